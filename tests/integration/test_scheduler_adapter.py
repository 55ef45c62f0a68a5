"""The EventBridge Scheduler adapter on moto (round trip) and Stubber (the exact request), and the
handler's dropOldPassword path (its log line and metrics)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber

from rotation import handler, observability
from rotation.adapters.scheduler import EventBridgeDropScheduler, schedule_name
from rotation.errors import AwsCallError, SettingsError
from sandbox import Sandbox
from sandbox.lambda_context import LocalLambdaContext
from sandbox.sandbox import LAMBDA_ARN, REGION, SCHEDULE_GROUP, SCHEDULER_ROLE_ARN

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:memorydb/app-user-AbCdEf"
TOKEN = "7d3bd9d4-7d6b-4a55-9f5f-7b3c6f1e2a10"
NOW = datetime(2026, 11, 25, 13, 0, 0, 250000, tzinfo=UTC)


def _adapter(client: object = None, group: str = SCHEDULE_GROUP) -> EventBridgeDropScheduler:
    adapter = EventBridgeDropScheduler(
        group_name=group,
        role_arn=SCHEDULER_ROLE_ARN,
        client=client,  # type: ignore[arg-type]
        now=lambda: NOW,
    )
    adapter.target_arn = LAMBDA_ARN
    return adapter


def test_creates_once_then_finds_it(sandbox: Sandbox) -> None:
    sandbox.drop_after(60)
    client = boto3.client("scheduler", region_name=REGION)
    adapter = _adapter(client)

    assert adapter.schedule_drop(SECRET, TOKEN, 4200) is True
    assert adapter.schedule_drop(SECRET, TOKEN, 4200) is False

    schedule = client.get_schedule(Name=schedule_name(SECRET, TOKEN), GroupName=SCHEDULE_GROUP)
    assert schedule["ScheduleExpression"] == "at(2026-11-25T14:10:01)"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert json.loads(schedule["Target"]["Input"])["ClientRequestToken"] == TOKEN


def test_a_missing_group_is_an_aws_call_error_naming_it(sandbox: Sandbox) -> None:
    adapter = _adapter(boto3.client("scheduler", region_name=REGION), group="nowhere")

    with pytest.raises(AwsCallError, match=r"group 'nowhere'.*ResourceNotFoundException"):
        adapter.schedule_drop(SECRET, TOKEN, 60)


def test_no_target_no_schedule() -> None:
    adapter = EventBridgeDropScheduler(group_name="g", role_arn=SCHEDULER_ROLE_ARN)
    with pytest.raises(SettingsError, match="own ARN"):
        adapter.schedule_drop(SECRET, TOKEN, 60)


def test_the_exact_request() -> None:
    client = boto3.client("scheduler", region_name=REGION)
    name = schedule_name(SECRET, TOKEN)
    with Stubber(client) as stub:
        stub.add_response(
            "create_schedule",
            {"ScheduleArn": f"arn:aws:scheduler:{REGION}:123456789012:schedule/g/{name}"},
            {
                "Name": name,
                "GroupName": SCHEDULE_GROUP,
                "ScheduleExpression": "at(2026-11-25T13:01:01)",
                "ScheduleExpressionTimezone": "UTC",
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "ActionAfterCompletion": "DELETE",
                "Description": ANY,
                "ClientToken": name,
                "Target": {
                    "Arn": LAMBDA_ARN,
                    "RoleArn": SCHEDULER_ROLE_ARN,
                    "Input": json.dumps(
                        {
                            "Action": "dropOldPassword",
                            "SecretId": SECRET,
                            "ClientRequestToken": TOKEN,
                        }
                    ),
                    "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
                },
            },
        )
        stub.add_client_error("create_schedule", "ConflictException", http_status_code=409)
        stub.add_client_error("create_schedule", "ThrottlingException", http_status_code=400)

        assert _adapter(client).schedule_drop(SECRET, TOKEN, 60) is True
        assert _adapter(client).schedule_drop(SECRET, TOKEN, 60) is False
        with pytest.raises(AwsCallError, match="ThrottlingException"):
            _adapter(client).schedule_drop(SECRET, TOKEN, 60)
        stub.assert_no_pending_responses()


def test_the_handler_logs_and_counts_the_drop(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    password = sandbox.create_user("app-user")
    arn = sandbox.create_secret("app-user", password)
    sandbox.drop_after(60)
    outcome = sandbox.driver().rotate(arn)
    sandbox.settle()
    caplog.clear()
    capsys.readouterr()

    event = {"Action": "dropOldPassword", "SecretId": arn, "ClientRequestToken": outcome.token}
    handler.lambda_handler(event, LocalLambdaContext())

    lines = [r for r in caplog.records if r.name == "memorydb-rotation"]
    assert [r.getMessage() for r in lines] == ["old password dropped"]
    line = json.loads(observability.logger.registered_formatter.format(lines[0]))
    assert (line["outcome"], line["step"], line["token"], line["user"]) == (
        "dropped_old",
        "dropOldPassword",
        outcome.token,
        "app-user",
    )
    metrics = [json.loads(m) for m in capsys.readouterr().out.splitlines() if "_aws" in m]
    assert metrics[-1]["Step"] == "dropOldPassword"
    assert metrics[-1]["OldPasswordDropped"] == [1.0]
    assert password not in caplog.text
