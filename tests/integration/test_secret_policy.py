"""The policy checker on what GetResourcePolicy returns (the path the operator CLI takes)."""

from __future__ import annotations

import json

import pytest

from memorydb_rotation_cli.secret_policy import check_secret_policy, recommended_policy
from sandbox import Sandbox

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/memorydb-rotation-RotationRole-1A2B3C"
ADMIN = "arn:aws:iam::123456789012:role/secrets-admin"


def test_a_secret_with_the_recommended_policy_passes(sandbox: Sandbox) -> None:
    arn = sandbox.create_secret("app-user", "A" * 32)
    sandbox.sm_client.put_resource_policy(
        SecretId=arn,
        ResourcePolicy=json.dumps(recommended_policy(ROLE, [ADMIN])),
        BlockPublicPolicy=True,
    )

    response = sandbox.sm_client.get_resource_policy(SecretId=arn)
    result = check_secret_policy(
        response.get("ResourcePolicy"), ROLE, administrators=[ADMIN], secret_arn=arn
    )

    assert result.problems == []
    assert result.other_writers == [ADMIN, "arn:aws:iam::123456789012:root"]


def test_a_secret_without_a_policy_is_flagged(sandbox: Sandbox) -> None:
    arn = sandbox.create_secret("app-user", "A" * 32)

    response = sandbox.sm_client.get_resource_policy(SecretId=arn)
    problems = check_secret_policy(response.get("ResourcePolicy"), ROLE, secret_arn=arn).problems

    assert "ResourcePolicy" not in response
    assert len(problems) == 1
    assert "no resource policy" in problems[0]
