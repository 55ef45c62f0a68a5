"""DropScheduler over EventBridge Scheduler: one one-time schedule per rotation.

The schedule is named from the secret and the token, so a retried finishSecret finds the one the
first attempt created (ConflictException) instead of making a second; the first one's time stands,
which is the earlier and so never shortens the grace it measured. `at()` takes whole seconds in
UTC and Scheduler fires within the following minute: the time is rounded up, never down.
`ActionAfterCompletion: DELETE` removes the schedule after it fired. The target is this function
(its invoked ARN, from the Lambda context, passed with each call) with the DropOldPasswordEvent as
Input; Scheduler assumes SCHEDULER_ROLE_ARN to invoke it, so the function's resource policy still
admits Secrets Manager alone.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from rotation.adapters.aws import BotoAdapter, call
from rotation.errors import AwsCallError, RotationError
from rotation.models import DropOldPasswordEvent

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_scheduler.type_defs import TargetTypeDef

# Scheduler's own ceilings (documented): 185 retries within 24 h of delivery attempts.
RETRY_ATTEMPTS = 185
MAX_EVENT_AGE_SECONDS = 86400
_NAME_PREFIX = "drop-old-password-"


def schedule_name(secret_id: str, token: str) -> str:
    """At most 64 characters of [0-9A-Za-z_.-], the same for every attempt of one rotation."""
    digest = hashlib.sha256(f"{secret_id}\n{token}".encode()).hexdigest()
    return _NAME_PREFIX + digest[: 64 - len(_NAME_PREFIX)]


def at_expression(now: datetime, grace_seconds: int) -> str:
    """`at(yyyy-mm-ddThh:mm:ss)` in UTC, `grace_seconds` after `now`, rounded up to the second."""
    due = now.astimezone(UTC) + timedelta(seconds=grace_seconds)
    whole = datetime.fromtimestamp(math.ceil(due.timestamp()), tz=UTC)
    return f"at({whole.strftime('%Y-%m-%dT%H:%M:%S')})"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EventBridgeDropScheduler(BotoAdapter["EventBridgeSchedulerClient"]):
    SERVICE = "scheduler"

    def __init__(
        self,
        *,
        group_name: str,
        role_arn: str,
        now: Callable[[], datetime] = _utc_now,
        boto3_client: EventBridgeSchedulerClient | None = None,
        boto3_session: boto3.session.Session | None = None,
        config: Config | None = None,
    ) -> None:
        super().__init__(boto3_client=boto3_client, boto3_session=boto3_session, config=config)
        self._group = group_name
        self._role_arn = role_arn
        self._now = now

    def schedule_drop(
        self, event: DropOldPasswordEvent, *, grace_seconds: int, target_arn: str
    ) -> bool:
        name = schedule_name(event.secret_id, event.token)
        target: TargetTypeDef = {
            "Arn": target_arn,
            "RoleArn": self._role_arn,
            "Input": json.dumps(event.as_input()),
            "RetryPolicy": {
                "MaximumRetryAttempts": RETRY_ATTEMPTS,
                "MaximumEventAgeInSeconds": MAX_EVENT_AGE_SECONDS,
            },
        }
        group = self._group

        def create() -> object:
            return self.client.create_schedule(
                Name=name,
                GroupName=group,
                ScheduleExpression=at_expression(self._now(), grace_seconds),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Description="memorydb-rotation: drop the old password after the grace period",
                Target=target,
                ClientToken=name,
            )

        try:
            call(
                "CreateSchedule",
                create,
                {
                    "ConflictException": _ScheduleExistsError,
                    "ResourceNotFoundException": lambda code: AwsCallError(
                        f"CreateSchedule in group '{group}' failed: {code}"
                    ),
                },
            )
        except _ScheduleExistsError:
            return False
        return True


class _ScheduleExistsError(RotationError):
    """ConflictException: this rotation's schedule is already there (a retried finishSecret)."""
