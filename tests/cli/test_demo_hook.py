"""The function `make demo` calls: status as text, against the in-process sandbox."""

from __future__ import annotations

import io

import pytest

from demo.status import show_status
from sandbox.sandbox import Sandbox

pytestmark = pytest.mark.integration


def test_show_status_before_and_after_a_rotation() -> None:
    with Sandbox(propagation_delay=0.01) as box:
        password = box.create_user("demo-user")
        arn = box.create_secret("demo-user", password)
        ca = box.tls_files.ca_cert if box.tls_files else None
        before = io.StringIO()
        assert show_status(arn, ca_bundle=ca, stream=before) == 0
        assert box.driver().rotate(arn).succeeded
        box.settle()
        after = io.StringIO()
        assert show_status(arn, ca_bundle=ca, stream=after) == 0
    for text in (before.getvalue(), after.getvalue()):
        assert "verdict: healthy" in text
        assert "fingerprint" in text
        assert password not in text
    assert "AWSPREVIOUS" in after.getvalue()
    assert "AWSPREVIOUS" not in before.getvalue()
