"""The EventBridge Scheduler adapter on moto (round trip) and Stubber (the exact request), and the
handler's dropOldPassword path (its log line and metrics)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from rotation import handler, observability
from rotation.adapters.scheduler import EventBridgeDropScheduler, schedule_name
from rotation.errors import AwsCallError
from rotation.models import DropOldPasswordEvent
from sandbox import Sandbox
from sandbox.lambda_context import LocalLambdaContext
from sandbox.sandbox import LAMBDA_ARN, REGION, SCHEDULE_GROUP, SCHEDULER_ROLE_ARN

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:memorydb/app-user-AbCdEf"
TOKEN = "7d3bd9d4-7d6b-4a55-9f5f-7b3c6f1e2a10"
NOW = datetime(2026, 11, 25, 13, 0, 0, 250000, tzinfo=UTC)


EVENT = DropOldPasswordEvent.for_rotation(SECRET, TOKEN)


def _adapter(client: Any = None, group: str = SCHEDULE_GROUP) -> EventBridgeDropScheduler:
    return EventBridgeDropScheduler(
        group_name=group, role_arn=SCHEDULER_ROLE_ARN, boto3_client=client, now=lambda: NOW
    )


def _schedule(adapter: EventBridgeDropScheduler, grace: int) -> bool:
    return adapter.schedule_drop(EVENT, grace_seconds=grace, target_arn=LAMBDA_ARN)


def test_creates_once_then_finds_it(sandbox: Sandbox) -> None:
    sandbox.drop_after(60)
    client = boto3.client("scheduler", region_name=REGION)
    adapter = _adapter(client)

    assert _schedule(adapter, 4200) is True
    assert _schedule(adapter, 4200) is False

    schedule = client.get_schedule(Name=schedule_name(SECRET, TOKEN), GroupName=SCHEDULE_GROUP)
    assert schedule["ScheduleExpression"] == "at(2026-11-25T14:10:01)"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert json.loads(schedule["Target"]["Input"])["ClientRequestToken"] == TOKEN


def test_a_missing_group_is_an_aws_call_error_naming_it(sandbox: Sandbox) -> None:
    adapter = _adapter(boto3.client("scheduler", region_name=REGION), group="nowhere")

    with pytest.raises(AwsCallError, match=r"group 'nowhere'.*ResourceNotFoundException"):
        _schedule(adapter, 60)


def test_the_session_given_builds_the_client(sandbox: Sandbox) -> None:
    sandbox.drop_after(60)
    session = boto3.session.Session(region_name=REGION)
    adapter = EventBridgeDropScheduler(
        group_name=SCHEDULE_GROUP, role_arn=SCHEDULER_ROLE_ARN, boto3_session=session
    )

    assert _schedule(adapter, 60) is True
    assert adapter.client.meta.region_name == REGION


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

        assert _schedule(_adapter(client), 60) is True
        assert _schedule(_adapter(client), 60) is False
        with pytest.raises(AwsCallError, match="ThrottlingException"):
            _schedule(_adapter(client), 60)
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
    assert [r.getMessage() for r in lines] == ["step succeeded"]
    line = json.loads(observability.logger.registered_formatter.format(lines[0]))
    assert (line["outcome"], line["old_password"], line["step"], line["token"], line["user"]) == (
        "grace_over",
        "dropped",
        "dropOldPassword",
        outcome.token,
        "app-user",
    )
    metrics = [json.loads(m) for m in capsys.readouterr().out.splitlines() if "_aws" in m]
    assert metrics[-1]["Step"] == "dropOldPassword"
    assert metrics[-1]["OldPasswordDropped"] == [1.0]
    assert password not in caplog.text
