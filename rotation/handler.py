"""Lambda entry point: parse the event, run one step, record the outcome, re-raise failures."""

from __future__ import annotations

import os

# pydantic looks for plugins through every installed distribution's entry points when it builds
# its first model (importlib.metadata over the whole sys.path). The function uses none, and the
# scan is part of every cold start: PYDANTIC_DISABLE_PLUGINS is pydantic's documented switch. An
# operator who sets the variable keeps their value.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from rotation.composition import Service, service
from rotation.errors import RotationError
from rotation.models import (
    DROP_ACTION,
    DropOldPasswordEvent,
    Invocation,
    OldPassword,
    RotationRequest,
    Step,
    is_drop_event,
)
from rotation.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from rotation.rotator import StepResult

_STEPS = frozenset(step.value for step in Step)
Work = Callable[[Service, Invocation], "StepResult"]


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    """A rotation step from Secrets Manager, or the dropOldPassword event of a drop-after
    schedule; every failure is logged and counted, then re-raised for the caller to retry."""
    metrics.add_dimension(name="Step", value=_dimension(event))
    try:
        work = _parse(event)
        svc = service()
        result = work(svc, svc.invocation(context))
    except RotationError as exc:
        _failed(exc)
        raise
    except Exception as exc:  # noqa: BLE001 - any failure must be recorded, then re-raised
        _failed(exc)
        unexpected = type(exc).__name__
    else:
        _succeeded(result)
        return
    # An unexpected error's text is not ours to vouch for: only its type is reported, and the
    # new error is raised outside the `except` so it keeps no reference to the original.
    raise RotationError(f"unexpected {unexpected}; see the function's log")


def _dimension(event: object) -> str:
    """Only a known step name becomes a dimension: the event is input, not ours to publish."""
    if is_drop_event(event):
        return DROP_ACTION
    step = event.get("Step") if isinstance(event, dict) else None
    # A list or an object there is not hashable: check the type before the membership.
    return step if isinstance(step, str) and step in _STEPS else "invalid"


def _parse(event: object) -> Work:
    if is_drop_event(event):
        drop = DropOldPasswordEvent.from_event(event)
        logger.append_keys(secret_arn=drop.secret_id, step=DROP_ACTION, token=drop.token)
        return lambda svc, invocation: svc.drop(drop, invocation)
    request = RotationRequest.from_event(event)
    logger.append_keys(secret_arn=request.secret_id, step=request.step.value, token=request.token)
    return lambda svc, invocation: svc.run(request, invocation)


def _succeeded(result: StepResult) -> None:
    metrics.add_metric(name="StepSucceeded", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="WaitSeconds", unit=MetricUnit.Seconds, value=result.waited_seconds)
    if result.old_password is not None:
        metrics.add_metric(
            name="OldPasswordDropped",
            unit=MetricUnit.Count,
            value=int(result.old_password is OldPassword.DROPPED),
        )
    extra: dict[str, Any] = {
        "outcome": result.outcome.value,
        "waited_seconds": round(result.waited_seconds, 3),
        "clusters": list(result.clusters),
        "nodes": result.nodes,
    }
    if result.old_password is not None:
        extra["old_password"] = result.old_password.value
    if result.kept_because is not None:
        extra["kept_because"] = result.kept_because.value
    if result.reason:
        extra["reason"] = result.reason
    logger.info("step succeeded", extra=extra)


def _failed(exc: Exception) -> None:
    metrics.add_metric(name="StepFailed", unit=MetricUnit.Count, value=1)
    reason = str(exc) if isinstance(exc, RotationError) else "unexpected error"
    logger.error("step failed", extra={"error": type(exc).__name__, "reason": reason})
