"""moto's EventBridge Scheduler, made to check what AWS checks and to fire on the sandbox's clock.

moto 5.2.5 stores, gets and deletes schedules but never fires them nor deletes them after their
time, accepts `at(not-a-date)`, answers a missing group with an internal error, and ignores
`ClientToken` (DOMAIN.md). The patch here refuses what Scheduler refuses where this project
depends on it (a malformed `at()`, an unknown group, an unknown ActionAfterCompletion or
FlexibleTimeWindow mode, a target without a role), and `fire_due` does what the service does for
one-time schedules whose time has come on the sandbox's clock: invoke the target with its Input,
then delete the schedule when `ActionAfterCompletion` is DELETE.

Scheduler invokes a Lambda function asynchronously, so a function error is retried by Lambda
(twice by default), not by Scheduler's RetryPolicy: `fire_due` makes up to `1 + async_retries`
invocations and then gives up, as Lambda does.

The sandbox's clock is the wall clock plus `offset`: `advance(seconds)` moves it on, so a grace of
an hour is over in a test without waiting for it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.scheduler.exceptions import ScheduleGroupNotFound, ValidationException
from moto.scheduler.models import EventBridgeSchedulerBackend, Schedule

from sandbox.lambda_context import LocalLambdaContext

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
ASYNC_RETRIES = 2
"""Lambda's default MaximumRetryAttempts for asynchronous invocations."""

Invoke = Callable[[dict[str, Any], Any], Any]


def parse_at(expression: str) -> datetime | None:
    """The UTC time of an `at(yyyy-mm-ddThh:mm:ss)` expression; None for rate()/cron()."""
    if not expression.startswith("at("):
        return None
    match = _AT.match(expression)
    if match is None:
        raise ValidationException(f"Invalid Schedule Expression {expression}.")
    try:
        return datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise ValidationException(f"Invalid Schedule Expression {expression}.") from None


@dataclass(frozen=True)
class Firing:
    """One schedule that came due, and what its invocations did."""

    group: str
    name: str
    due: datetime
    event: dict[str, Any]
    errors: tuple[str, ...] = ()
    succeeded: bool = True


@dataclass
class SandboxScheduler:
    offset: float = 0.0
    """Seconds the sandbox's clock is ahead of the wall clock."""
    async_retries: int = ASYNC_RETRIES
    calls: list[str] = field(default_factory=list)
    firings: list[Firing] = field(default_factory=list)
    _backends: list[EventBridgeSchedulerBackend] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- the clock ------------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    # -- what the sandbox can ask ---------------------------------------------------------------

    def schedules(self) -> list[Schedule]:
        with self._lock:
            return [
                schedule
                for backend in self._backends
                for group in backend.schedule_groups.values()
                for schedule in group.schedules.values()
            ]

    def due(self) -> list[Schedule]:
        """One-time schedules, enabled, whose time has come on the sandbox's clock."""
        now = self.now()
        due = []
        for schedule in self.schedules():
            at = parse_at(schedule.schedule_expression)
            if at is not None and schedule.state == "ENABLED" and at <= now:
                due.append(schedule)
        return sorted(due, key=lambda s: (parse_at(s.schedule_expression), s.name))

    def fire_due(self, invoke: Invoke) -> list[Firing]:
        """Invoke the target of every due schedule with its Input, then delete or disable it."""
        fired = []
        for schedule in self.due():
            fired.append(self._fire(schedule, invoke))
        return fired

    # -- the patched backend --------------------------------------------------------------------

    @contextmanager
    def patched(self) -> Iterator[SandboxScheduler]:
        original = EventBridgeSchedulerBackend.create_schedule
        sandbox_scheduler = self

        def create_schedule(backend: EventBridgeSchedulerBackend, **params: Any) -> Any:
            with sandbox_scheduler._lock:
                sandbox_scheduler.calls.append("CreateSchedule")
                if backend not in sandbox_scheduler._backends:
                    sandbox_scheduler._backends.append(backend)
                _check(backend, params)
                return original(backend, **params)

        EventBridgeSchedulerBackend.create_schedule = create_schedule  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            EventBridgeSchedulerBackend.create_schedule = original  # type: ignore[method-assign]

    def _fire(self, schedule: Schedule, invoke: Invoke) -> Firing:
        target = schedule.target
        event = json.loads(target.get("Input") or "{}")
        errors: list[str] = []
        succeeded = False
        for _attempt in range(1 + self.async_retries):
            context = LocalLambdaContext(invoked_function_arn=str(target["Arn"]))
            try:
                invoke(dict(event), context)
            except Exception as exc:  # noqa: BLE001 - Lambda records any failure, then retries
                errors.append(f"{type(exc).__name__}: {exc}")
            else:
                succeeded = True
                break
        with self._lock:
            group = next(
                b.schedule_groups[schedule.group_name]
                for b in self._backends
                if schedule.group_name in b.schedule_groups
            )
            if schedule.action_after_completion == "DELETE":
                group.schedules.pop(schedule.name, None)
            else:
                # A one-time schedule with ActionAfterCompletion NONE stays, and never fires again.
                schedule.state = "DISABLED"
        due = parse_at(schedule.schedule_expression) or self.now()
        firing = Firing(schedule.group_name, schedule.name, due, event, tuple(errors), succeeded)
        self.firings.append(firing)
        return firing


def _check(backend: EventBridgeSchedulerBackend, params: dict[str, Any]) -> None:
    group = params.get("group_name") or "default"
    if group not in backend.schedule_groups:
        raise ScheduleGroupNotFound(group)
    parse_at(str(params.get("schedule_expression") or ""))
    action = params.get("action_after_completion")
    if action not in (None, "NONE", "DELETE"):
        raise ValidationException(f"Invalid ActionAfterCompletion {action}.")
    window = params.get("flexible_time_window") or {}
    if window.get("Mode") not in ("OFF", "FLEXIBLE"):
        raise ValidationException("FlexibleTimeWindow.Mode must be OFF or FLEXIBLE.")
    target = params.get("target") or {}
    if not target.get("Arn") or not target.get("RoleArn"):
        raise ValidationException("Target needs an Arn and a RoleArn.")
    if "Input" in target:
        try:
            json.loads(target["Input"])
        except ValueError:
            raise ValidationException("Target.Input is not valid JSON.") from None
