"""`rotate [--follow]`: RotateSecret, then the rotation as it happens.

Following reads three things on every poll (bounded backoff, bounded in total): the secret's
labels, the user's status, and the function's log lines for this token (FilterLogEvents on the
function's log group, the token as a quoted term). It ends when the rotation ends, either way:

- succeeded (0): AWSCURRENT is on the token and no version holds AWSPENDING;
- failed (1): the function logged a refusal (a RefusedError is permanent: Secrets Manager's
  retries would refuse again), or it logged a transient failure and then nothing more for this
  token for `retry_wait` seconds while the token still holds AWSPENDING alone. Secrets Manager
  retries a failed rotation but documents neither how often nor how far apart, so a quiet period
  is the only evidence that no retry is coming; a retry logs a step line, which ends the quiet;
- abandoned (1): the token's version lost AWSPENDING without becoming AWSCURRENT (someone
  removed the label or the version);
- timed-out (1): the time limit, with the last failure logged, if any.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from memorydb_rotation_cli.aws import Aws, CliError, aws_errors, describe_failure
from memorydb_rotation_cli.render import Output
from memorydb_rotation_cli.state import UNKNOWN_STEP, Inspector, function_name
from rotation import errors
from rotation.models import AWSCURRENT, AWSPENDING
from rotation.waiting import Backoff

_BACKOFF = Backoff(initial=0.5, maximum=5.0)
# Seconds a logged failure may stand with no further step line before the rotation counts as
# failed (`rotate --retry-wait`).
RETRY_WAIT = 300.0

# Every result `rotate` reports (its verdict code), with its exit code, and the kinds of event
# --follow records: the vocabularies of rotate.schema.json (tests/cli/test_schemas.py).
RESULTS: dict[str, int] = {
    "started": 0,
    "succeeded": 0,
    "failed": 1,
    "abandoned": 1,
    "timed-out": 1,
    "refused": 1,
}
EVENT_KINDS = ("labels", "user", "step", "log")


@dataclass
class Event:
    kind: str
    detail: str
    step: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"event kind {self.kind} is not in EVENT_KINDS")

    def to_json(self) -> dict[str, Any]:
        return {
            "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "kind": self.kind,
            "step": self.step,
            "detail": self.detail,
        }


@dataclass
class Outcome:
    result: str
    failed_step: str | None = None
    error: str | None = None
    reason: str | None = None
    retry_wait: float | None = None
    """Set when the failure stood this many seconds with no retry logged."""
    events: list[dict[str, Any]] = field(default_factory=list)


def permanent(error_name: str) -> bool:
    """A refusal (bad input or a state the function will not act on) repeats on every retry."""
    cls = getattr(errors, error_name, None)
    return isinstance(cls, type) and issubclass(cls, errors.RefusedError)


class Follower:
    def __init__(
        self,
        aws: Aws,
        *,
        secret_arn: str,
        token: str,
        user: str | None,
        log_group: str | None,
        timeout: float,
        on_event: Callable[[Event], None],
        retry_wait: float = RETRY_WAIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.aws = aws
        self.secret_arn = secret_arn
        self.token = token
        self.user = user
        self.log_group = log_group
        self.timeout = timeout
        self.retry_wait = retry_wait
        self.on_event = on_event
        self.clock = clock
        self.sleep = sleep
        # Log timestamps come from the function's clock: look a minute back for skew.
        self._since_ms = wall_ms() - 60_000
        self._seen: set[str] = set()
        self._labels: dict[str, list[str]] | None = None
        self._status: str | None = None
        self.outcome = Outcome("timed-out")

    def _emit(self, event: Event) -> None:
        self.outcome.events.append(event.to_json())
        self.on_event(event)

    def run(self) -> Outcome:
        start = self.clock()
        last_failure: tuple[str, str, str] | None = None
        # When the latest step line was a failure: the moment it was seen (None after a success).
        failed_at: float | None = None
        while True:
            labels = self._poll_labels()
            self._poll_user()
            for line in self._poll_logs():
                if line is None:
                    failed_at = None
                    continue
                last_failure, failed_at = line, self.clock()
                if permanent(line[1]):
                    return self._end("failed", last_failure)
            if self._done(labels):
                self.outcome.result = "succeeded"
                return self.outcome
            if self._abandoned(labels):
                return self._end("abandoned", last_failure)
            now = self.clock()
            if failed_at is not None and now - failed_at >= self.retry_wait:
                self.outcome.retry_wait = self.retry_wait
                return self._end("failed", last_failure)
            remaining = self.timeout - (now - start)
            if remaining <= 0:
                return self._end("failed" if last_failure else "timed-out", last_failure)
            pause = min(_BACKOFF.interval(now - start), remaining)
            if failed_at is not None:
                pause = min(pause, max(0.0, failed_at + self.retry_wait - now))
            self.sleep(pause)

    def _end(self, result: str, failure: tuple[str, str, str] | None) -> Outcome:
        self.outcome.result = result
        if failure is not None:
            self.outcome.failed_step, self.outcome.error, self.outcome.reason = failure
        return self.outcome

    def _abandoned(self, labels: dict[str, list[str]]) -> bool:
        """The token's version holds neither AWSPENDING nor AWSCURRENT: nothing will finish it."""
        mine = labels.get(self.token, [])
        return AWSPENDING not in mine and AWSCURRENT not in mine

    def _done(self, labels: dict[str, list[str]]) -> bool:
        if AWSCURRENT not in labels.get(self.token, []):
            return False
        return not any(AWSPENDING in stages for stages in labels.values())

    def _poll_labels(self) -> dict[str, list[str]]:

        try:
            described = self.aws.client("secretsmanager").describe_secret(SecretId=self.secret_arn)
        except aws_errors() as exc:
            raise CliError(describe_failure(exc, "DescribeSecret")) from None
        labels = {k: list(v) for k, v in described.get("VersionIdsToStages", {}).items() if v}
        if labels != self._labels:
            mine = labels.get(self.token, [])
            others = sorted(
                f"{version[:8]}={'+'.join(stages)}"
                for version, stages in labels.items()
                if version != self.token
            )
            self._emit(
                Event(
                    "labels",
                    f"this version: {'+'.join(mine) or '(no label)'}; others: "
                    f"{', '.join(others) or '-'}",
                )
            )
            self._labels = labels
        return labels

    def _poll_user(self) -> None:
        if self.user is None:
            return

        try:
            users = self.aws.client("memorydb").describe_users(UserName=self.user)["Users"]
        except aws_errors():
            return
        if not users:
            return
        status = users[0].get("Status")
        count = users[0].get("Authentication", {}).get("PasswordCount")
        state = f"{status}, PasswordCount {count}"
        if state != self._status:
            self._emit(Event("user", f"user {self.user}: {state}"))
            self._status = state

    def _poll_logs(self) -> list[tuple[str, str, str] | None]:
        """New step lines for this token, in order: (step, error, reason) for a failure, None
        for a success."""
        if self.log_group is None:
            return []

        lines: list[tuple[str, str, str] | None] = []
        request: dict[str, Any] = {
            "logGroupName": self.log_group,
            "filterPattern": f'"{self.token}"',
            "startTime": self._since_ms,
        }
        logs = self.aws.client("logs")
        while True:
            try:
                page = logs.filter_log_events(**request)
            except aws_errors() as exc:
                self._emit(Event("log", describe_failure(exc, "FilterLogEvents")))
                self.log_group = None
                return lines
            for event in page.get("events", []):
                event_id = event.get("eventId") or f"{event.get('timestamp')}:{event['message']}"
                if event_id in self._seen:
                    continue
                self._seen.add(event_id)
                line = self._read_line(event.get("message", ""))
                if line is not False:
                    lines.append(line)
            if not page.get("nextToken"):
                return lines
            request["nextToken"] = page["nextToken"]

    def _read_line(self, message: str) -> tuple[str, str, str] | Literal[False] | None:
        """A failure's (step, error, reason), None for a success, False for any other line."""
        try:
            line = json.loads(message)
        except ValueError:
            return False
        if not isinstance(line, dict) or line.get("token") != self.token:
            return False
        step = str(line.get("step", UNKNOWN_STEP))
        if line.get("message") == "step succeeded":
            self._emit(Event("step", f"{step} succeeded ({line.get('outcome')})", step))
            return None
        if line.get("message") == "step failed":
            error, reason = str(line.get("error", "")), str(line.get("reason", ""))
            self._emit(Event("step", f"{step} failed: {error}: {reason}", step))
            return step, error, reason
        return False


def run(
    aws: Aws,
    secret_id: str,
    *,
    follow: bool,
    timeout: float,
    out: Output,
    resume: bool = False,
    retry_wait: float = RETRY_WAIT,
) -> dict[str, Any]:
    """RotateSecret; with `resume`, RotateSecret with ClientRequestToken = the standing
    AWSPENDING version's id, which Secrets Manager takes as a retry of that rotation (the token
    is the version's id: the steps run again on the same version, nothing new is staged)."""
    from botocore.exceptions import BotoCoreError, ClientError

    inspector = Inspector(aws)
    secret = inspector.secret(secret_id)
    request: dict[str, Any] = {"SecretId": secret.arn}
    if resume:
        pending = secret.stale_candidate
        if pending is None:
            raise CliError("--resume: no AWSPENDING stands on another version than AWSCURRENT")
        request["ClientRequestToken"] = pending.id
    doc: dict[str, Any] = {
        "command": "rotate",
        "secret": secret.arn,
        "token": None,
        "followed": follow,
        "result": None,
        "failed_step": None,
        "error": None,
        "reason": None,
        "retry_wait": None,
        "events": [],
    }
    try:
        token = aws.client("secretsmanager").rotate_secret(**request)["VersionId"]
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code in {"InvalidRequestException", "ResourceNotFoundException"}:
            doc.update(result="refused", error=code, reason=exc.response["Error"].get("Message"))
            return _finish(doc, secret.name)
        raise CliError(describe_failure(exc, "RotateSecret")) from None
    except BotoCoreError as exc:
        raise CliError(describe_failure(exc, "RotateSecret")) from None
    doc["token"] = token
    if not follow:
        doc["result"] = "started"
        return _finish(doc, secret.name)
    unknown: list[Any] = []
    function = inspector.function(secret.function_arn, unknown) if secret.function_arn else None
    log_group = (
        function.log_group
        if function
        else (f"/aws/lambda/{function_name(secret.function_arn)}" if secret.function_arn else None)
    )
    current = secret.current
    live = _Live(out)
    follower = Follower(
        aws,
        secret_arn=secret.arn,
        token=token,
        user=current.username if current else None,
        log_group=log_group,
        timeout=timeout,
        retry_wait=retry_wait,
        on_event=live.event,
    )
    with live:
        outcome = follower.run()
    doc.update(
        result=outcome.result,
        failed_step=outcome.failed_step,
        error=outcome.error,
        reason=outcome.reason,
        retry_wait=outcome.retry_wait,
        events=outcome.events,
    )
    return _finish(doc, secret.name)


def _finish(doc: dict[str, Any], name: str) -> dict[str, Any]:
    result = doc["result"]
    if result in {"started", "succeeded"}:
        message = (
            f"rotation started (version {doc['token']})"
            if result == "started"
            else "rotated: AWSCURRENT moved to the new version and AWSPENDING is gone"
        )
        nxt = f"memorydb-rotation status {name}"
    elif result == "refused":
        message = f"RotateSecret refused: {doc['reason']}"
        nxt = (
            f"memorydb-rotation rotate {name} --resume (retry that rotation with its own token), "
            f"or memorydb-rotation repair {name} (abandon it)"
        )
    elif result == "failed":
        message = f"{doc['failed_step']} failed: {doc['error']}: {doc['reason']}"
        if doc["retry_wait"] is not None:
            message += f" (no retry logged within {doc['retry_wait']:g} s)"
        nxt = f"memorydb-rotation status {name}"
    elif result == "abandoned":
        message = "the rotation's version lost AWSPENDING without becoming AWSCURRENT"
        nxt = f"memorydb-rotation status {name}"
    else:
        message = "the rotation did not end within the time limit"
        nxt = f"memorydb-rotation status {name}"
    doc["verdict"] = {"code": result, "message": message, "next": nxt}
    # A KeyError here is a result missing from RESULTS (and so from the schema).
    doc["exit_code"] = RESULTS[result]
    return doc


class _Live:
    """Each event as a line; on a terminal, a spinner with the latest state between them."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self._status: Any = None

    def __enter__(self) -> _Live:
        if self.out.rich:
            self._status = self.out.console.status("waiting for the first step")
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def event(self, event: Event) -> None:
        if self.out.json_mode:
            return
        self.out.line(f"{event.kind:<6} {event.detail}")
        if self._status is not None:
            self._status.update(event.detail)


def render(out: Output, doc: dict[str, Any]) -> None:
    from memorydb_rotation_cli.render import verdict

    if doc["token"] and not doc["followed"]:
        out.line(f"RotateSecret: new version {doc['token']}")
    verdict(out, doc)
