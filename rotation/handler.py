"""Lambda entry point: parse the event, run one step, record the outcome, re-raise failures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from rotation.composition import service
from rotation.errors import RotationError
from rotation.models import RotationRequest, Step
from rotation.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from rotation.rotator import StepResult


_STEPS = frozenset(step.value for step in Step)


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    step = event.get("Step") if isinstance(event, dict) else None
    # Only a known step name becomes a dimension: the event is input, not ours to publish.
    # (A list or an object there is not hashable: check the type before the membership.)
    dimension = step if isinstance(step, str) and step in _STEPS else "invalid"
    metrics.add_dimension(name="Step", value=dimension)
    try:
        request = RotationRequest.from_event(event)
        logger.append_keys(
            secret_arn=request.secret_id, step=request.step.value, token=request.token
        )
        svc = service()
        result = svc.run(request, svc.time_left(context.get_remaining_time_in_millis()))
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


def _succeeded(result: StepResult) -> None:
    metrics.add_metric(name="StepSucceeded", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="WaitSeconds", unit=MetricUnit.Seconds, value=result.waited_seconds)
    logger.info(
        "step succeeded",
        extra={
            "outcome": result.outcome.value,
            "waited_seconds": round(result.waited_seconds, 3),
            "clusters": list(result.clusters),
            "nodes": result.nodes,
        },
    )


def _failed(exc: Exception) -> None:
    metrics.add_metric(name="StepFailed", unit=MetricUnit.Count, value=1)
    reason = str(exc) if isinstance(exc, RotationError) else "unexpected error"
    logger.error("step failed", extra={"error": type(exc).__name__, "reason": reason})
