"""`rotate --follow`'s polling on its own: bounded in time, transient failures waited on,
refusals final. Stubber pins the three reads it makes on every poll (DescribeSecret,
DescribeUsers, FilterLogEvents)."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.stub import ANY, Stubber

from memorydb_rotation_cli.aws import Aws
from memorydb_rotation_cli.rotate import Event, Follower, permanent

SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:memorydb/app-AbCdEf"
TOKEN = "0b5c7f1e-1111-4222-8333-944455556666"
GROUP = "/aws/lambda/rotation"
OLD = "9a8b7c6d-1111-4222-8333-944455556666"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _aws() -> tuple[Aws, dict[str, Stubber]]:
    aws = Aws(
        boto3.Session(region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    )
    stubbers = {}
    for service in ("secretsmanager", "memorydb", "logs"):
        client = aws.session.client(service, endpoint_url=f"https://{service}.example")
        aws._clients[service] = client
        stubbers[service] = Stubber(client)
        stubbers[service].activate()
    return aws, stubbers


def _line(step: str, message: str, **extra: Any) -> dict[str, Any]:
    body = {"message": message, "step": step, "token": TOKEN, **extra}
    return {
        "eventId": f"{step}-{message}-{len(extra)}",
        "timestamp": 1,
        "message": json.dumps(body),
    }


def _poll(
    stubbers: dict[str, Stubber], stages: dict[str, list[str]], lines: list[dict[str, Any]]
) -> None:
    stubbers["secretsmanager"].add_response(
        "describe_secret", {"ARN": SECRET, "VersionIdsToStages": stages}, {"SecretId": SECRET}
    )
    stubbers["memorydb"].add_response(
        "describe_users",
        {"Users": [{"Name": "app", "Status": "active", "Authentication": {"PasswordCount": 1}}]},
        {"UserName": "app"},
    )
    stubbers["logs"].add_response(
        "filter_log_events",
        {"events": lines},
        {"logGroupName": GROUP, "filterPattern": f'"{TOKEN}"', "startTime": ANY},
    )


def _follower(
    aws: Aws, clock: FakeClock, timeout: float, retry_wait: float = 300
) -> tuple[Follower, list[Event]]:
    seen: list[Event] = []
    follower = Follower(
        aws,
        secret_arn=SECRET,
        token=TOKEN,
        user="app",
        log_group=GROUP,
        timeout=timeout,
        retry_wait=retry_wait,
        on_event=seen.append,
        clock=clock,
        sleep=clock.sleep,
        wall_ms=lambda: 1_000_000,
    )
    return follower, seen


def test_a_transient_failure_is_waited_on_until_the_time_limit() -> None:
    aws, stubbers = _aws()
    clock = FakeClock()
    pending = {OLD: ["AWSCURRENT"], TOKEN: ["AWSPENDING"]}
    failure = _line(
        "testSecret", "step failed", error="ClusterUnreachableError", reason="timed out"
    )
    _poll(stubbers, pending, [failure])
    for _ in range(40):
        _poll(stubbers, pending, [])
    follower, seen = _follower(aws, clock, timeout=30)
    outcome = follower.run()
    assert (outcome.result, outcome.failed_step) == ("failed", "testSecret")
    assert (outcome.error, outcome.reason) == ("ClusterUnreachableError", "timed out")
    # Bounded: never past the limit, each pause at most 5 s, and it backs off.
    assert clock.now == 30
    assert max(clock.sleeps) <= 5
    assert clock.sleeps[0] < clock.sleeps[-2]
    assert any("testSecret failed" in e.detail for e in seen)


def test_a_failure_with_no_retry_within_the_retry_wait_ends_the_follow() -> None:
    aws, stubbers = _aws()
    clock = FakeClock()
    pending = {OLD: ["AWSCURRENT"], TOKEN: ["AWSPENDING"]}
    _poll(stubbers, pending, [_line("createSecret", "step succeeded", outcome="created")])
    _poll(stubbers, pending, [])
    failure = _line("setSecret", "step failed", error="UserBusyError", reason="modifying")
    _poll(stubbers, pending, [failure])
    for _ in range(40):
        _poll(stubbers, pending, [])
    follower, _seen = _follower(aws, clock, timeout=1800, retry_wait=20)
    outcome = follower.run()
    assert (outcome.result, outcome.failed_step) == ("failed", "setSecret")
    assert (outcome.error, outcome.reason, outcome.retry_wait) == ("UserBusyError", "modifying", 20)
    # Seen on the third poll, after two pauses; then exactly the retry wait, not the time limit.
    failure_seen = sum(clock.sleeps[:2])
    assert clock.now == failure_seen + 20
    assert max(clock.sleeps) <= 5


def test_a_retry_logged_within_the_retry_wait_keeps_following() -> None:
    aws, stubbers = _aws()
    clock = FakeClock()
    pending = {OLD: ["AWSCURRENT"], TOKEN: ["AWSPENDING"]}
    failure = _line(
        "testSecret", "step failed", error="ClusterUnreachableError", reason="timed out"
    )
    _poll(stubbers, pending, [failure])
    _poll(stubbers, pending, [])
    # Secrets Manager's retry: the steps run again on the same token and succeed.
    _poll(stubbers, pending, [_line("testSecret", "step succeeded", outcome="verified")])
    for _ in range(5):
        _poll(stubbers, pending, [])
    _poll(stubbers, {OLD: ["AWSPREVIOUS"], TOKEN: ["AWSCURRENT"]}, [])
    follower, _seen = _follower(aws, clock, timeout=1800, retry_wait=2)
    outcome = follower.run()
    assert outcome.result == "succeeded"
    # Past the retry wait after the success: only a failure standing alone starts that clock.
    assert clock.now > 2
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()


def test_a_rotation_whose_pending_label_is_removed_ends_abandoned() -> None:
    aws, stubbers = _aws()
    clock = FakeClock()
    _poll(stubbers, {OLD: ["AWSCURRENT"], TOKEN: ["AWSPENDING"]}, [])
    _poll(stubbers, {OLD: ["AWSCURRENT"]}, [])
    follower, _seen = _follower(aws, clock, timeout=1800)
    assert follower.run().result == "abandoned"
    assert len(clock.sleeps) == 1


def test_a_refusal_ends_the_follow_at_once() -> None:
    aws, stubbers = _aws()
    clock = FakeClock()
    refusal = _line("createSecret", "step failed", error="UserRefusedError", reason="not allowed")
    _poll(stubbers, {OLD: ["AWSCURRENT"], TOKEN: ["AWSPENDING"]}, [refusal])
    follower, _seen = _follower(aws, clock, timeout=600)
    outcome = follower.run()
    assert (outcome.result, outcome.error) == ("failed", "UserRefusedError")
    assert clock.sleeps == []


def test_success_once_current_moved_and_pending_gone() -> None:
    aws, stubbers = _aws()
    clock = FakeClock()
    _poll(
        stubbers,
        {OLD: ["AWSCURRENT"], TOKEN: ["AWSPENDING"]},
        [_line("createSecret", "step succeeded")],
    )
    # AWSCURRENT moved but AWSPENDING still on it: the service has not finished.
    _poll(stubbers, {OLD: ["AWSPREVIOUS"], TOKEN: ["AWSCURRENT", "AWSPENDING"]}, [])
    _poll(stubbers, {OLD: ["AWSPREVIOUS"], TOKEN: ["AWSCURRENT"]}, [])
    follower, _seen = _follower(aws, clock, timeout=600)
    assert follower.run().result == "succeeded"
    assert len(clock.sleeps) == 2
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()


def test_only_refusals_are_permanent() -> None:
    assert permanent("CurrentPasswordRejectedError")
    assert permanent("UserRefusedError")
    assert not permanent("ClusterUnreachableError")
    assert not permanent("WaitTimeoutError")
    assert not permanent("NoSuchError")
