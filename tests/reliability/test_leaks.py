"""Invariant 5 at DEBUG, with tracing, on refusals near a secret, and when botocore's validator
repeats a password."""

from __future__ import annotations

import logging

from sandbox import Sandbox
from tests.reliability.campaign.leakcases import run_leak_cases
from tests.reliability.campaign.report import Collected


def test_no_leak_at_debug_with_tracing_or_from_botocore_validation(
    sandbox: Sandbox, reliability_results: Collected
) -> None:
    results = list(run_leak_cases(sandbox))
    reliability_results.results += results
    assert len(results) == 8
    assert [f"{r.name}: {r.detail}" for r in results if not r.ok] == []


def test_the_function_pins_botocore_logging_at_info() -> None:
    import rotation.observability  # noqa: F401 - importing it sets the levels

    for name in ("botocore", "boto3", "urllib3"):
        assert logging.getLogger(name).level == logging.INFO
