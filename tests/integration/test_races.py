"""Racing first claims on the sandbox, interleaved at the AWS call where the race happens."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from rotation.adapters.memorydb import OWNER_TAG, MemoryDBDirectory
from rotation.adapters.redis_verifier import RedisVerifier
from rotation.adapters.secrets_manager import SecretsManagerStore
from rotation.errors import RotationError, UserOwnedElsewhereError
from rotation.handler import lambda_handler
from rotation.models import Invocation, RotationRequest
from rotation.rotator import Rotator
from rotation.settings import Settings
from sandbox import Sandbox
from sandbox.lambda_context import LocalLambdaContext
from sandbox.sandbox import LAMBDA_ARN, REGION

USER = "app-user"


def _step(arn: str, token: str, step: str) -> None:
    lambda_handler(
        {"Step": step, "SecretId": arn, "ClientRequestToken": token}, LocalLambdaContext()
    )


def test_two_first_claims_at_once_leave_the_earlier_claim_whole(sandbox: Sandbox) -> None:
    """B's createSecret and setSecret run between A's ListTags (no owner) and A's TagResource:
    A's claim is later than B's, so A withdraws it and refuses before writing anything else;
    B's pending password stays in the user's set and B's rotation completes."""
    password = sandbox.create_user(USER)
    secret_a = sandbox.create_secret(USER, password, name="memorydb/app-user-a")
    secret_b = sandbox.create_secret(USER, password, name="memorydb/app-user-b")
    token_a, token_b = str(uuid.uuid4()), str(uuid.uuid4())
    sandbox.stage_pending(secret_a, token_a)
    sandbox.stage_pending(secret_b, token_b)

    memorydb = boto3.client("memorydb", region_name=REGION)
    raced: list[str] = []

    def b_runs_first(**_: Any) -> None:
        if not raced:
            raced.append("B")
            _step(secret_b, token_b, "createSecret")
            _step(secret_b, token_b, "setSecret")

    memorydb.meta.events.register("before-call.memorydb.TagResource", b_runs_first)
    settings = Settings.from_env()  # the function's environment, as the sandbox sets it
    rotator_a = Rotator(
        SecretsManagerStore(boto3_client=boto3.client("secretsmanager", region_name=REGION)),
        MemoryDBDirectory(boto3_client=memorydb),
        RedisVerifier(ca_bundle=settings.ca_bundle_path, timeout_seconds=5),
        settings,
    )
    request = RotationRequest.from_event(
        {"Step": "createSecret", "SecretId": secret_a, "ClientRequestToken": token_a}
    )

    with pytest.raises(UserOwnedElsewhereError, match=r"claimed by secret .*app-user-b"):
        rotator_a.handle(request, Invocation(time_left_seconds=60, function_arn=LAMBDA_ARN))

    assert raced == ["B"]
    assert sandbox.view(secret_a).password("AWSPENDING") is None  # A wrote no pending version
    pending_b = sandbox.view(secret_b).password("AWSPENDING") or ""
    sandbox.settle()
    assert sandbox.control_plane_passwords(USER) == [password, pending_b]
    tags = memorydb.list_tags(ResourceArn=sandbox.user_arn(USER))["TagList"]
    assert tags == [{"Key": OWNER_TAG, "Value": secret_b}]  # A's claim withdrawn, B's stands
    for step in ("testSecret", "finishSecret"):
        _step(secret_b, token_b, step)
    sandbox.finish_rotation(secret_b, token_b)
    sandbox.settle()
    assert sandbox.authenticates(USER, pending_b)
    assert not sandbox.authenticates(USER, password)


def test_a_claim_that_meets_another_in_flight_withdraws(sandbox: Sandbox) -> None:
    """B's createSecret runs right after A's claim landed and before A read it back: B sees A's
    claim, withdraws its own and fails for a retry; A then sees itself alone and owns the user."""
    password = sandbox.create_user(USER)
    secret_a = sandbox.create_secret(USER, password, name="memorydb/app-user-a")
    secret_b = sandbox.create_secret(USER, password, name="memorydb/app-user-b")
    token_a, token_b = str(uuid.uuid4()), str(uuid.uuid4())
    sandbox.stage_pending(secret_a, token_a)
    sandbox.stage_pending(secret_b, token_b)
    memorydb = boto3.client("memorydb", region_name=REGION)
    refused: list[str] = []

    def b_claims_too(**_: Any) -> None:
        if not refused:
            refused.append("pending")
            with pytest.raises(RotationError, match="at the same time"):
                _step(secret_b, token_b, "createSecret")
            refused[0] = "B refused"

    memorydb.meta.events.register("after-call.memorydb.TagResource", b_claims_too)
    settings = Settings.from_env()
    rotator_a = Rotator(
        SecretsManagerStore(boto3_client=boto3.client("secretsmanager", region_name=REGION)),
        MemoryDBDirectory(boto3_client=memorydb),
        RedisVerifier(ca_bundle=settings.ca_bundle_path, timeout_seconds=5),
        settings,
    )
    request = RotationRequest.from_event(
        {"Step": "createSecret", "SecretId": secret_a, "ClientRequestToken": token_a}
    )

    result = rotator_a.handle(request, Invocation(time_left_seconds=60, function_arn=LAMBDA_ARN))

    assert (result.outcome, refused) == ("created", ["B refused"])
    assert sandbox.view(secret_b).password("AWSPENDING") is None
    tags = memorydb.list_tags(ResourceArn=sandbox.user_arn(USER))["TagList"]
    assert tags == [{"Key": OWNER_TAG, "Value": secret_a}]
