"""Composition root: settings, adapters and the rotator, built once per container on first use."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from rotation.adapters.aws import API_CALL_WORST_CASE_SECONDS
from rotation.adapters.memorydb import MemoryDBDirectory
from rotation.adapters.redis_verifier import RedisVerifier
from rotation.adapters.scheduler import EventBridgeDropScheduler
from rotation.adapters.secrets_manager import SecretsManagerStore
from rotation.models import DROP_ACTION, DropOldPasswordEvent, Invocation, RotationRequest
from rotation.observability import SERVICE, logger
from rotation.rotator import Rotator, StepResult
from rotation.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

E = TypeVar("E", RotationRequest, DropOldPasswordEvent)
Run = Callable[[E, Invocation], StepResult]


@dataclass(frozen=True)
class Service:
    settings: Settings
    run: Run[RotationRequest]
    """One rotation step: the rotator's `handle`, inside an X-Ray subsegment when tracing is on."""
    drop: Run[DropOldPasswordEvent]
    """The end of a drop-after grace (the event the schedule sends), traced the same way."""

    @property
    def reserve_seconds(self) -> float:
        """What a step needs after its last wait: one AWS call at botocore's worst case (every
        attempt timing out, backoff between) and one proof round (connect + AUTH reply), plus a
        second for the handler to log and return."""
        return API_CALL_WORST_CASE_SECONDS + 2 * self.settings.connect_timeout_seconds + 1

    def time_left(self, remaining_millis: int) -> float:
        """Seconds a step may wait: the Lambda's remaining time less the reserve."""
        return max(0.0, remaining_millis / 1000 - self.reserve_seconds)

    def invocation(self, context: LambdaContext) -> Invocation:
        return Invocation(
            time_left_seconds=self.time_left(context.get_remaining_time_in_millis()),
            function_arn=context.invoked_function_arn,
        )


@functools.cache
def service() -> Service:
    settings = Settings.from_env()
    target = settings.schedule_target
    secrets = SecretsManagerStore()
    users = MemoryDBDirectory()
    verifier = RedisVerifier(
        ca_bundle=settings.ca_bundle_path, timeout_seconds=settings.connect_timeout_seconds
    )
    rotator = Rotator(
        secrets,
        users,
        verifier,
        settings,
        scheduler=(
            EventBridgeDropScheduler(group_name=target[0], role_arn=target[1])
            if target is not None
            else None
        ),
        clock=time.monotonic,
        sleep=time.sleep,
        on_user=lambda name: logger.append_keys(user=name),
    )
    run = _one_session(verifier, rotator.handle)
    drop = _one_session(verifier, rotator.drop_old_password)
    if not settings.tracing_enabled:
        return Service(settings, run, drop)
    return Service(
        settings,
        _traced(run, lambda request: request.step.value),
        _traced(drop, lambda _event: DROP_ACTION),
    )


def _one_session(verifier: RedisVerifier, run: Run[E]) -> Run[E]:
    """One connection per node for the invocation: every AUTH after a node's first is re-sent on
    its open connection (no new TLS handshake), and every connection closes when it returns."""

    def in_session(event: E, invocation: Invocation) -> StepResult:
        with verifier.session():
            return run(event, invocation)

    return in_session


def _traced(run: Run[E], name: Callable[[E], str]) -> Run[E]:
    from aws_lambda_powertools import Tracer

    tracer = Tracer(service=SERVICE)

    def traced_run(event: E, invocation: Invocation) -> StepResult:
        step = name(event)
        with tracer.provider.in_subsegment(f"## {step}") as subsegment:
            # Annotations are searchable in X-Ray: only names, never values from the secret.
            subsegment.put_annotation("step", step)
            return run(event, invocation)

    return traced_run
