"""Composition root: settings, adapters and the rotator, built once per container on first use."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

from rotation.adapters.aws import API_CALL_WORST_CASE_SECONDS
from rotation.adapters.memorydb import MemoryDBDirectory
from rotation.adapters.redis_verifier import RedisVerifier
from rotation.adapters.secrets_manager import SecretsManagerStore
from rotation.models import RotationRequest
from rotation.observability import SERVICE, logger
from rotation.rotator import Rotator, StepResult
from rotation.settings import Settings

RunStep = Callable[[RotationRequest, float], StepResult]


@dataclass(frozen=True)
class Service:
    settings: Settings
    rotator: Rotator
    run: RunStep
    """Runs one step: the rotator's `handle`, inside an X-Ray subsegment when tracing is on."""

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
    rotator = Rotator(
        SecretsManagerStore(),
        MemoryDBDirectory(),
        RedisVerifier(
            ca_bundle=settings.ca_bundle_path, timeout_seconds=settings.connect_timeout_seconds
        ),
        settings,
        clock=time.monotonic,
        sleep=time.sleep,
        on_user=lambda name: logger.append_keys(user=name),
    )
    return Service(
        settings, rotator, _traced(rotator.handle) if settings.tracing_enabled else rotator.handle
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
