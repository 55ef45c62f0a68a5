"""Least-privilege users: an access string without PING still rotates.

Found by the reliability work: AUTH succeeded, PING answered NOPERM, and the verifier reported
the cluster as unreachable, so such a user could never be rotated.
"""

from __future__ import annotations

import pytest

from tests.reliability.campaign.harness import Harness


@pytest.mark.parametrize(
    ("user", "access_string"),
    [("lp-get-set", "on ~app:* +get +set"), ("lp-read", "on ~* +@read")],
)
def test_a_least_privilege_user_can_be_rotated(
    harness: Harness, user: str, access_string: str
) -> None:
    sandbox = harness.sandbox
    password = sandbox.create_user(user, access_string=access_string)
    arn = sandbox.create_secret(user, password, document=sandbox.secret_document(user, password))
    run = harness.rotate(arn, user)
    assert run.succeeded, run.summary()
    assert run.violations == []
