"""What Secrets Manager does around the rotation function, for local runs.

moto cannot run a rotation Lambda here (its Lambda backend needs Docker; its events carry the
secret's name, not its ARN). This driver does what the service does: stage an empty AWSPENDING
version under a fresh token, call the four steps with ARN events, retry a failed step with the
same token, and remove AWSPENDING once finishSecret succeeded. A failed rotation leaves
AWSPENDING where it is, as the service does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.lambda_context import LocalLambdaContext

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class StepAttempt:
    step: str
    attempt: int
    error_type: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None


@dataclass
class RotationOutcome:
    secret_arn: str
    token: str
    attempts: list[StepAttempt] = field(default_factory=list)
    succeeded: bool = False

    @property
    def failed_step(self) -> str | None:
        return None if self.succeeded or not self.attempts else self.attempts[-1].step

    @property
    def last_error(self) -> StepAttempt | None:
        failures = [a for a in self.attempts if not a.ok]
        return failures[-1] if failures else None


class RotationDriver:
    def __init__(
        self,
        handler: Handler,
        *,
        stage_pending: Callable[[str, str, bool], None],
        finish_rotation: Callable[[str, str], None],
        step_attempts: int = 3,
        timeout_seconds: float = 900.0,
        before_step: Callable[[str, int], None] | None = None,
    ) -> None:
        self._handler = handler
        self._stage_pending = stage_pending
        self._finish_rotation = finish_rotation
        self.step_attempts = step_attempts
        self.timeout_seconds = timeout_seconds
        self._before_step = before_step

    def rotate(
        self,
        secret_arn: str,
        *,
        token: str | None = None,
        rotate_immediately: bool = True,
        rotation_token: str | None = None,
    ) -> RotationOutcome:
        """One RotateSecret. Pass the token of a failed rotation to reattempt it."""
        token = token or str(uuid.uuid4())
        self._stage_pending(secret_arn, token, not rotate_immediately)
        outcome = RotationOutcome(secret_arn, token)
        steps = STEPS if rotate_immediately else ("testSecret",)
        for step in steps:
            if not self._run_step(outcome, step, rotation_token):
                return outcome
        self._finish_rotation(secret_arn, token)
        outcome.succeeded = True
        return outcome

    def invoke(
        self, secret_arn: str, step: str, token: str, rotation_token: str | None = None
    ) -> None:
        """One invocation of the function, as the service sends it."""
        event: dict[str, Any] = {
            "Step": step,
            "SecretId": secret_arn,
            "ClientRequestToken": token,
        }
        if rotation_token is not None:
            event["RotationToken"] = rotation_token
        self._handler(event, LocalLambdaContext(timeout_seconds=self.timeout_seconds))

    def _run_step(self, outcome: RotationOutcome, step: str, rotation_token: str | None) -> bool:
        for attempt in range(1, self.step_attempts + 1):
            if self._before_step is not None:
                self._before_step(step, attempt)
            try:
                self.invoke(outcome.secret_arn, step, outcome.token, rotation_token)
            except Exception as exc:  # noqa: BLE001 - the service records any failure
                outcome.attempts.append(StepAttempt(step, attempt, type(exc).__name__, str(exc)))
            else:
                outcome.attempts.append(StepAttempt(step, attempt))
                return True
        return False
