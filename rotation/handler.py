"""Lambda entry point: parse the event, run one step, record the outcome, re-raise failures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from rotation.composition import service
from rotation.errors import RotationError
from rotation.models import RotationRequest
from rotation.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    step = str(event.get("Step", "unknown")) if isinstance(event, dict) else "unknown"
    metrics.add_dimension(name="Step", value=step[:32])
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
        # An unexpected error's text is not ours to vouch for: report only its type.
        raise RotationError(f"unexpected {type(exc).__name__}; see the function's log") from None
    metrics.add_metric(name="StepSucceeded", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="WaitSeconds", unit=MetricUnit.Seconds, value=result.waited_seconds)
    logger.info(
        "step succeeded",
        extra={"outcome": result.outcome, "waited_seconds": round(result.waited_seconds, 3)},
    )


def _failed(exc: Exception) -> None:
    metrics.add_metric(name="StepFailed", unit=MetricUnit.Count, value=1)
    reason = str(exc) if isinstance(exc, RotationError) else "unexpected error"
    logger.error("step failed", extra={"error": type(exc).__name__, "reason": reason})
