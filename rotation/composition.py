"""Composition root: settings, adapters and the rotator, built once per container on first use."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rotation.adapters.aws import API_CALL_WORST_CASE_SECONDS
from rotation.adapters.memorydb import MemoryDBDirectory
from rotation.adapters.redis_verifier import RedisVerifier
from rotation.adapters.secrets_manager import SecretsManagerStore
from rotation.errors import RotationError
from rotation.models import RotationRequest
from rotation.observability import SERVICE, logger
from rotation.rotator import Rotator, StepResult
from rotation.settings import Settings

if TYPE_CHECKING:
    # drop-after's modules load on first use: most invocations are rotation steps.
    from rotation.adapters.scheduler import EventBridgeDropScheduler
    from rotation.grace import DropOldPasswordEvent, DropResult, OldPasswordDropper

RunStep = Callable[[RotationRequest, float], StepResult]


@dataclass(frozen=True)
class Service:
    settings: Settings
    rotator: Rotator
    run: RunStep
    """Runs one step: the rotator's `handle`, inside an X-Ray subsegment when tracing is on."""
    dropper: Callable[[], OldPasswordDropper] | None = None
    """Builds (once) the scheduled end of a `drop-after` rotation's grace (rotation/grace.py);
    `service()` always sets it."""
    drop_scheduler: EventBridgeDropScheduler | None = None

    def drop(self, event: DropOldPasswordEvent, time_left: float) -> DropResult:
        """Ends a `drop-after` rotation's grace (the event the schedule sends)."""
        if self.dropper is None:
            raise RotationError("this service was built without the drop-after use case")
        return self.dropper().drop(event, time_left)

    def bind_function(self, invoked_function_arn: str) -> None:
        """The schedule's target is this function: its ARN comes with each invocation."""
        if self.drop_scheduler is not None:
            self.drop_scheduler.target_arn = invoked_function_arn

    @property
    def reserve_seconds(self) -> float:
        """What a step needs after its last wait: one AWS call at botocore's worst case (every
        attempt timing out, backoff between) and one proof round (connect + AUTH reply), plus a
        second for the handler to log and return."""
        return API_CALL_WORST_CASE_SECONDS + 2 * self.settings.connect_timeout_seconds + 1

    def time_left(self, remaining_millis: int) -> float:
        """Seconds a step may wait: the Lambda's remaining time less the reserve."""
        return max(0.0, remaining_millis / 1000 - self.reserve_seconds)


@functools.cache
def service() -> Service:
    settings = Settings.from_env()
    secrets, users = SecretsManagerStore(), MemoryDBDirectory()
    verifier = RedisVerifier(
        ca_bundle=settings.ca_bundle_path, timeout_seconds=settings.connect_timeout_seconds
    )
    drop_scheduler = None
    if settings.schedule_group_name is not None and settings.scheduler_role_arn is not None:
        from rotation.adapters.scheduler import EventBridgeDropScheduler

        drop_scheduler = EventBridgeDropScheduler(
            group_name=settings.schedule_group_name, role_arn=settings.scheduler_role_arn
        )
    rotator = Rotator(
        secrets,
        users,
        verifier,
        settings,
        clock=time.monotonic,
        sleep=time.sleep,
        on_user=lambda name: logger.append_keys(user=name),
        drop_scheduler=drop_scheduler,
    )

    @functools.cache
    def dropper() -> OldPasswordDropper:
        from rotation.grace import OldPasswordDropper

        return OldPasswordDropper(
            secrets,
            users,
            verifier,
            settings,
            on_user=lambda name: logger.append_keys(user=name),
        )

    return Service(
        settings,
        rotator,
        _traced(rotator.handle) if settings.tracing_enabled else rotator.handle,
        dropper,
        drop_scheduler,
    )


def _traced(run: RunStep) -> RunStep:
    from aws_lambda_powertools import Tracer

    tracer = Tracer(service=SERVICE)

    def traced_run(request: RotationRequest, time_left: float) -> StepResult:
        with tracer.provider.in_subsegment(f"## {request.step.value}") as subsegment:
            # Annotations are searchable in X-Ray: only names, never values from the secret.
            subsegment.put_annotation("step", request.step.value)
            return run(request, time_left)

    return traced_run
