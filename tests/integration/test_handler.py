"""The handler's own duties: log keys, metrics, tracing when enabled, and safe failures."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator

import pytest
from aws_lambda_powertools import Tracer

from rotation import composition, handler, observability
from rotation.errors import RotationError
from rotation.models import Invocation, RotationRequest
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

    def explode(request: RotationRequest, invocation: Invocation) -> StepResult:
        raise KeyError("Secret-looking-value-0123456789")

    broken = composition.Service(svc.settings, explode, svc.drop)
    monkeypatch.setattr(handler, "service", lambda: broken)

    with pytest.raises(RotationError, match="unexpected KeyError") as raised:
        handler.lambda_handler(event, LocalLambdaContext())

    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None
    assert "Secret-looking-value" not in caplog.text
    assert "Secret-looking-value" not in str(raised.value)


class RecordedSubsegment:
    def __init__(self, name: str, calls_before: int) -> None:
        self.name = name
        self.calls_before = calls_before
        self.calls_after = calls_before
        self.annotations: dict[str, object] = {}

    def put_annotation(self, key: str, value: object) -> None:
        self.annotations[key] = value


def test_tracing_enabled_wraps_each_step_in_a_subsegment(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.configure_function(TRACING_ENABLED="true", POWERTOOLS_TRACE_DISABLED="true")
    _, token, event = _one_step(sandbox)
    # The Tracer's provider is the X-Ray recorder, one per process: recording what it is asked
    # to open shows the subsegment without sending anything to a daemon.
    provider = Tracer(service=observability.SERVICE).provider
    opened: list[RecordedSubsegment] = []

    @contextlib.contextmanager
    def in_subsegment(name: str, **_: object) -> Iterator[RecordedSubsegment]:
        subsegment = RecordedSubsegment(name, sandbox.calls().count("PutSecretValue"))
        opened.append(subsegment)
        yield subsegment
        subsegment.calls_after = sandbox.calls().count("PutSecretValue")

    monkeypatch.setattr(provider, "in_subsegment", in_subsegment)

    handler.lambda_handler(event, LocalLambdaContext())

    assert [(s.name, s.annotations) for s in opened] == [
        ("## createSecret", {"step": "createSecret"})
    ]
    # The step ran inside it: its write came between the subsegment's opening and closing.
    assert (opened[0].calls_before, opened[0].calls_after) == (0, 1)
    assert sandbox.view(event["SecretId"]).values[token]["username"] == USER


def test_time_left_keeps_a_reserve_for_the_calls_after_a_wait(sandbox: Sandbox) -> None:
    sandbox.configure_function(CONNECT_TIMEOUT_SECONDS="4")
    short = composition.service()
    sandbox.configure_function(CONNECT_TIMEOUT_SECONDS="8")
    long = composition.service()

    # After the last wait come at least two proofs on the cluster (pending, then current), each
    # allowed a whole connect timeout: the reserve covers them and grows with the timeout.
    assert 900 - short.time_left(900_000) >= 2 * 4
    assert 900 - long.time_left(900_000) >= 2 * 8
    assert long.time_left(900_000) < short.time_left(900_000)
    assert short.time_left(1_000) == 0.0
