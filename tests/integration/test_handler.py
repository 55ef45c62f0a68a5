"""The handler's own duties: log keys, metrics, tracing when enabled, and safe failures."""

from __future__ import annotations

import json
import uuid

import pytest

from rotation import composition, handler, observability
from rotation.errors import RotationError
from rotation.models import RotationRequest
from rotation.rotator import StepResult
from sandbox import Sandbox
from sandbox.lambda_context import LocalLambdaContext

USER = "app-user"


def _one_step(sandbox: Sandbox) -> tuple[str, str, dict[str, str]]:
    password = sandbox.create_user(USER)
    arn = sandbox.create_secret(USER, password)
    token = str(uuid.uuid4())
    sandbox.stage_pending(arn, token)
    event = {"Step": "createSecret", "SecretId": arn, "ClientRequestToken": token}
    return arn, token, event


def test_success_logs_one_line_with_the_correlation_keys(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    arn, token, event = _one_step(sandbox)

    handler.lambda_handler(event, LocalLambdaContext())

    lines = [r for r in caplog.records if r.name == "memorydb-rotation"]
    assert [r.getMessage() for r in lines] == ["step succeeded"]
    line = json.loads(observability.logger.registered_formatter.format(lines[0]))
    assert line["outcome"] == "created"
    assert (line["secret_arn"], line["token"], line["step"], line["user"]) == (
        arn,
        token,
        "createSecret",
        USER,
    )
    assert "password" not in json.dumps(line)
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert metrics[-1]["StepSucceeded"] == [1.0]
    assert metrics[-1]["Step"] == "createSecret"
    assert "WaitSeconds" in metrics[-1]


def test_unexpected_errors_are_reported_by_type_only(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _, _, event = _one_step(sandbox)
    svc = composition.service()

    def explode(request: RotationRequest, time_left: float) -> StepResult:
        raise KeyError("Secret-looking-value-0123456789")

    broken = composition.Service(svc.settings, svc.rotator, explode)
    monkeypatch.setattr(handler, "service", lambda: broken)

    with pytest.raises(RotationError, match="unexpected KeyError") as raised:
        handler.lambda_handler(event, LocalLambdaContext())

    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None
    assert "Secret-looking-value" not in caplog.text
    assert "Secret-looking-value" not in str(raised.value)


def test_tracing_enabled_wraps_each_step_in_a_subsegment(sandbox: Sandbox) -> None:
    sandbox.configure_function(TRACING_ENABLED="true", POWERTOOLS_TRACE_DISABLED="true")
    _, token, event = _one_step(sandbox)

    svc = composition.service()
    assert svc.run is not svc.rotator.handle
    handler.lambda_handler(event, LocalLambdaContext())

    assert sandbox.view(event["SecretId"]).values[token]["username"] == USER
    assert sandbox.calls().count("PutSecretValue") == 1


def test_time_left_keeps_a_reserve_for_the_calls_after_a_wait(sandbox: Sandbox) -> None:
    svc = composition.service()
    # botocore worst case 5 x (5 + 10) + 15 s of backoff, one proof round, one second.
    reserve = 90 + 2 * svc.settings.connect_timeout_seconds + 1
    assert svc.reserve_seconds == pytest.approx(reserve)
    assert svc.time_left(900_000) == pytest.approx(900 - reserve)
    assert svc.time_left(1_000) == 0.0
