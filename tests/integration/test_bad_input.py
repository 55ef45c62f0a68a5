"""Every input the function refuses: a clear error, nothing written, no secret in the message."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from rotation.handler import lambda_handler
from sandbox import Sandbox
from sandbox.lambda_context import LocalLambdaContext

USER = "app-user"
WRITES = ("PutSecretValue", "UpdateSecretVersionStage", "UpdateUser")


@dataclass
class Case:
    name: str
    match: str
    document: dict[str, Any] = field(default_factory=dict)
    secret_string: str | None = None
    event: dict[str, Any] = field(default_factory=dict)
    step: str = "createSecret"
    settings: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[Sandbox, str, str], None] | None = None
    user_kwargs: dict[str, Any] = field(default_factory=dict)


def _disable(sandbox: Sandbox, arn: str, token: str) -> None:
    sandbox.secretsmanager.disable_rotation(sandbox.sm_backend, arn)


def _unstage(sandbox: Sandbox, arn: str, token: str) -> None:
    del sandbox.sm_backend.secrets[arn].versions[token]


def _not_pending(sandbox: Sandbox, arn: str, token: str) -> None:
    sandbox.sm_backend.secrets[arn].versions[token]["version_stages"] = ["AWSPREVIOUS"]


def _delete_user(sandbox: Sandbox, arn: str, token: str) -> None:
    sandbox.memorydb_client.delete_user(UserName=USER)


def _pending_for_other_user(sandbox: Sandbox, arn: str, token: str) -> None:
    other = sandbox.create_user("other-user")
    sandbox.sm_client.put_secret_value(
        SecretId=arn,
        ClientRequestToken=token,
        SecretString=json.dumps(sandbox.secret_document("other-user", other)),
        VersionStages=["AWSPENDING"],
    )
    sandbox.secretsmanager.calls.clear()


CASES = [
    Case("unknown step", "'Step' is invalid", event={"Step": "rotateSecret"}),
    Case("missing token", "ClientRequestToken", event={"ClientRequestToken": None}),
    Case("token not staged", "is not a version of secret", prepare=_unstage),
    Case("token not pending", "is not AWSPENDING", prepare=_not_pending),
    Case("rotation disabled", "rotation is not enabled", prepare=_disable),
    Case("secret not JSON", "not JSON", secret_string="username=app-user;password=x"),
    Case("secret is a JSON list", "not a JSON object", secret_string='["app-user"]'),
    Case("missing username", "'username' is missing", document={"username": None}),
    Case("missing password", "'password' is missing", document={"password": None}),
    Case("port not a number", "'port' is invalid", document={"port": "6379; rm"}),
    Case("ssl not a boolean", "'ssl' is invalid", document={"ssl": "yes"}),
    Case(
        "user_arn names another user",
        "names a different user",
        document={"user_arn": "arn:aws:memorydb:us-east-1:123456789012:user/someone-else"},
    ),
    Case(
        "user_arn from another account",
        "is not the ARN of user",
        document={"user_arn": "arn:aws:memorydb:us-east-1:210987654321:user/app-user"},
    ),
    Case("default user", "'default' user", document={"username": "default", "user_arn": None}),
    Case(
        "iam user",
        "authenticates with 'iam'",
        user_kwargs={"auth_type": "iam"},
    ),
    Case(
        "no-password user",
        "authenticates with 'no-password'",
        user_kwargs={"auth_type": "no-password"},
    ),
    Case("missing user", "no MemoryDB user 'app-user'", prepare=_delete_user),
    Case(
        "user outside the allow-list",
        "not in ROTATION_ALLOWED_USERS",
        settings={"ROTATION_ALLOWED_USERS": "payments,reporting"},
    ),
    Case(
        "current password does not authenticate",
        "does not authenticate",
        document={"password": "Stale-password-from-2019-0123"},
    ),
    Case("host not an endpoint", "are not an endpoint", document={"host": "attacker.example"}),
    Case(
        "pending version for another user",
        "different user or endpoint",
        step="setSecret",
        prepare=_pending_for_other_user,
    ),
    Case("bad settings", "PASSWORD_LENGTH", settings={"PASSWORD_LENGTH": "8"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_refused_with_a_clear_error_and_nothing_written(
    sandbox: Sandbox, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    password = sandbox.create_user(USER, **case.user_kwargs)
    document = sandbox.secret_document(USER, password)
    document.update(case.document)
    document = {k: v for k, v in document.items() if v is not None}
    arn = sandbox.create_secret(USER, password, document=document, secret_string=case.secret_string)
    if case.settings:
        sandbox.configure_function(**case.settings)
    token = str(uuid.uuid4())
    sandbox.secretsmanager.stage_pending(sandbox.sm_backend, arn, token)
    if case.prepare is not None:
        case.prepare(sandbox, arn, token)
    event: dict[str, Any] = {"Step": case.step, "SecretId": arn, "ClientRequestToken": token}
    event.update(case.event)
    event = {k: v for k, v in event.items() if v is not None}
    sandbox.memorydb.calls.clear()
    sandbox.secretsmanager.calls.clear()

    with pytest.raises(Exception, match=case.match) as raised:
        lambda_handler(event, LocalLambdaContext())

    writes = sandbox.memorydb.calls + sandbox.secretsmanager.calls
    assert [c for c in writes if c in WRITES] == []
    if not case.user_kwargs and case.prepare is not _delete_user:
        assert sandbox.authenticates(USER, password)
    failures = [r for r in caplog.records if r.getMessage() == "step failed"]
    assert len(failures) == 1
    assert case.match in failures[0].reason  # type: ignore[attr-defined]
    for text in (str(raised.value), caplog.text, repr(failures[0].__dict__)):
        assert password not in text
