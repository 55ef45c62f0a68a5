"""OLD_PASSWORD_POLICY=drop-after on the sandbox: the schedule, the grace, the drop."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from rotation.adapters.scheduler import schedule_name
from rotation.handler import lambda_handler
from sandbox import Sandbox
from sandbox.lambda_context import LocalLambdaContext
from sandbox.sandbox import LAMBDA_ARN, REGION, SCHEDULE_GROUP, SCHEDULER_ROLE_ARN
from sandbox.scheduler import parse_at

USER = "app-user"
GRACE = 3600


def _setup(sandbox: Sandbox, grace: float = GRACE) -> tuple[str, str]:
    password = sandbox.create_user(USER)
    arn = sandbox.create_secret(USER, password)
    sandbox.drop_after(grace)
    return arn, password


def _invoke(event: dict[str, Any]) -> None:
    lambda_handler(event, LocalLambdaContext())


def test_the_old_password_works_through_the_grace_and_is_dropped_after(sandbox: Sandbox) -> None:
    arn, old = _setup(sandbox)

    outcome = sandbox.driver().rotate(arn)

    assert outcome.succeeded, outcome.last_error
    sandbox.settle()
    new = sandbox.view(arn).password("AWSCURRENT")
    assert new is not None
    assert sandbox.authenticates(USER, old)
    assert sandbox.authenticates(USER, new)
    assert sandbox.password_count(USER) == 2
    [schedule] = sandbox.scheduler.schedules()
    assert schedule.name == schedule_name(arn, outcome.token)
    assert schedule.group_name == SCHEDULE_GROUP
    assert schedule.action_after_completion == "DELETE"
    assert schedule.target["Arn"] == LAMBDA_ARN
    assert schedule.target["RoleArn"] == SCHEDULER_ROLE_ARN
    assert json.loads(schedule.target["Input"]) == {
        "Action": "dropOldPassword",
        "SecretId": arn,
        "ClientRequestToken": outcome.token,
    }
    due = parse_at(schedule.schedule_expression)
    assert due is not None
    # Never shorter than the grace (whole seconds, rounded up).
    assert due >= sandbox.scheduler.now() + timedelta(seconds=GRACE - 2)

    assert sandbox.pass_time(GRACE - 60) == []
    assert sandbox.authenticates(USER, old)

    [firing] = sandbox.pass_time(61)

    assert firing.succeeded, firing.errors
    assert sandbox.scheduler.schedules() == []  # ActionAfterCompletion DELETE
    sandbox.settle()
    assert sandbox.password_count(USER) == 1
    assert sandbox.authenticates(USER, new)
    assert not sandbox.authenticates(USER, old)


def test_a_retried_finish_secret_finds_its_schedule(sandbox: Sandbox) -> None:
    arn, _old = _setup(sandbox)
    driver = sandbox.driver()
    token = str(uuid.uuid4())
    sandbox.stage_pending(arn, token)
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        driver.invoke(arn, step, token)
    first = sandbox.scheduler.schedules()[0].schedule_expression
    sandbox.scheduler.advance(600)

    driver.invoke(arn, "finishSecret", token)
    driver.invoke(arn, "finishSecret", token)

    [schedule] = sandbox.scheduler.schedules()
    assert schedule.schedule_expression == first  # the first grace stands, never a later one
    assert sandbox.scheduler.calls.count("CreateSchedule") == 3


def test_back_to_back_rotations_never_drop_the_current_password(sandbox: Sandbox) -> None:
    arn, _first = _setup(sandbox)
    driver = sandbox.driver()
    one = driver.rotate(arn)
    sandbox.settle()
    two = driver.rotate(arn)
    assert one.succeeded
    assert two.succeeded
    sandbox.settle()
    second = sandbox.view(arn).password("AWSPREVIOUS")
    third = sandbox.view(arn).password("AWSCURRENT")
    assert second is not None
    assert third is not None

    firings = sandbox.pass_time(GRACE + 60)

    assert [f.succeeded for f in firings] == [True, True]
    sandbox.settle()
    # The first rotation's schedule found its token superseded: a no-op. The second dropped.
    assert sandbox.password_count(USER) == 1
    assert sandbox.authenticates(USER, third)
    assert not sandbox.authenticates(USER, second)


def test_the_drop_waits_for_a_rotation_in_progress(sandbox: Sandbox) -> None:
    arn, _old = _setup(sandbox)
    driver = sandbox.driver()
    done = driver.rotate(arn)
    sandbox.settle()
    token = str(uuid.uuid4())
    sandbox.stage_pending(arn, token)
    driver.invoke(arn, "createSecret", token)

    [firing] = sandbox.pass_time(GRACE + 60)

    assert firing.succeeded
    assert sandbox.password_count(USER) == 2  # untouched: a rotation owns the set
    current = sandbox.view(arn).password("AWSCURRENT")
    assert current is not None
    assert sandbox.view(arn).version_with("AWSCURRENT") == done.token
    for step in ("setSecret", "testSecret", "finishSecret"):
        driver.invoke(arn, step, token)
    sandbox.finish_rotation(arn, token)
    sandbox.settle()
    assert sandbox.authenticates(USER, str(sandbox.view(arn).password("AWSCURRENT")))


def test_invoking_the_event_by_hand_drops_early(sandbox: Sandbox) -> None:
    arn, old = _setup(sandbox)
    outcome = sandbox.driver().rotate(arn)
    sandbox.settle()

    _invoke({"Action": "dropOldPassword", "SecretId": arn, "ClientRequestToken": outcome.token})
    _invoke({"Action": "dropOldPassword", "SecretId": arn, "ClientRequestToken": outcome.token})

    sandbox.settle()
    assert not sandbox.authenticates(USER, old)
    assert sandbox.authenticates(USER, str(sandbox.view(arn).password("AWSCURRENT")))
    [firing] = sandbox.pass_time(GRACE + 60)  # the schedule still fires: a no-op now
    assert firing.succeeded


@pytest.mark.parametrize(
    "forged",
    [
        {"Action": "dropOldPassword", "SecretId": "memorydb/app-user", "ClientRequestToken": "x"},
        {"Action": "dropAllPasswords", "SecretId": "{arn}", "ClientRequestToken": "{token}"},
        {
            "Action": "dropOldPassword",
            "SecretId": "{arn}",
            "ClientRequestToken": "{token}",
            "Passwords": ["x"],
        },
    ],
)
def test_a_malformed_drop_event_is_refused_and_changes_nothing(
    sandbox: Sandbox, forged: dict[str, Any]
) -> None:
    arn, old = _setup(sandbox)
    outcome = sandbox.driver().rotate(arn)
    sandbox.settle()
    event = {
        k: (v.format(arn=arn, token=outcome.token) if isinstance(v, str) else v)
        for k, v in forged.items()
    }

    with pytest.raises(Exception, match="not a dropOldPassword event"):
        _invoke(event)

    assert sandbox.authenticates(USER, old)
    assert sandbox.password_count(USER) == 2


def test_a_drop_event_for_the_previous_version_is_a_noop(sandbox: Sandbox) -> None:
    arn, old = _setup(sandbox)
    sandbox.driver().rotate(arn)
    sandbox.settle()
    previous = sandbox.view(arn).version_with("AWSPREVIOUS")
    assert previous is not None

    _invoke({"Action": "dropOldPassword", "SecretId": arn, "ClientRequestToken": previous})

    sandbox.settle()
    assert sandbox.authenticates(USER, old)
    assert sandbox.password_count(USER) == 2


def test_the_sandbox_refuses_what_scheduler_refuses(sandbox: Sandbox) -> None:
    _setup(sandbox)
    client = boto3.client("scheduler", region_name=REGION)
    base: dict[str, Any] = {
        "Name": "s",
        "GroupName": SCHEDULE_GROUP,
        "ScheduleExpression": "at(2026-11-25T10:00:00)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": LAMBDA_ARN, "RoleArn": SCHEDULER_ROLE_ARN, "Input": "{}"},
    }
    for change in (
        {"ScheduleExpression": "at(not-a-date)"},
        {"ScheduleExpression": "at(2026-13-45T10:00:00)"},
        {"GroupName": "no-such-group"},
        {"ActionAfterCompletion": "ARCHIVE"},
    ):
        with pytest.raises(ClientError):
            client.create_schedule(**{**base, **change})
    client.create_schedule(**base)
    assert [s.name for s in sandbox.scheduler.schedules()] == ["s"]


def test_no_drop_when_the_current_password_stopped_working(sandbox: Sandbox) -> None:
    arn, old = _setup(sandbox)
    outcome = sandbox.driver().rotate(arn)
    sandbox.settle()
    # Someone set the user's passwords by hand: AWSCURRENT's no longer works.
    sandbox.memorydb_client.update_user(
        UserName=USER,
        AuthenticationMode={"Type": "password", "Passwords": [old, "Hand-set-password-0123456789"]},
    )
    sandbox.settle()

    [firing] = sandbox.pass_time(GRACE + 60)

    assert firing.succeeded
    assert sandbox.password_count(USER) == 2  # nothing dropped
    assert sandbox.authenticates(USER, old)
    assert outcome.token in firing.event["ClientRequestToken"]


def test_an_unreachable_cluster_fails_every_attempt_and_drops_nothing(sandbox: Sandbox) -> None:
    arn, _old = _setup(sandbox)
    sandbox.driver().rotate(arn)
    sandbox.settle()
    sandbox.redis.stop()

    [firing] = sandbox.pass_time(GRACE + 60)

    assert not firing.succeeded
    assert len(firing.errors) == 3  # the invocation and Lambda's two retries
    assert all("ClusterUnreachableError" in error for error in firing.errors)
    assert sandbox.password_count(USER) == 2
