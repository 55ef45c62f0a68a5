"""`history`: a secret's rotations as the function logged them (when, outcome, which step failed).

One FilterLogEvents over the function's log group with the secret's ARN as a quoted term (every
line the function writes carries `secret_arn`), from `--days` back, bounded by MAX_PAGES. Lines
are grouped by `token` (one rotation, or one scheduled drop of an old password): its first and
last line's time, every step's end in order, how many failed, and the outcome:

- succeeded: finishSecret logged success (a drop: its step logged success);
- failed: the rotation's last line is a failure (the step, error and reason are its);
- unfinished: neither (still running, or its lines are older than the window).

A log group that does not exist yet is an empty history (Lambda creates it on the first line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from memorydb_rotation_cli.aws import CliError, aws_errors, describe_failure
from memorydb_rotation_cli.state import Inspector, StepLine, function_name, iso

MAX_PAGES = 50
FINISH = "finishSecret"
# The vocabularies of history.schema.json (tests/cli/test_schemas.py).
KINDS = ("rotation", "drop")
OUTCOMES = ("succeeded", "failed", "unfinished")
VERDICT = "listed"


@dataclass
class Rotation:
    token: str
    steps: list[StepLine] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "drop" if all(s.step not in _ROTATION_STEPS for s in self.steps) else "rotation"

    @property
    def outcome(self) -> str:
        last = self.steps[-1]
        if last.failed:
            return "failed"
        if self.kind == "drop" or any(s.step == FINISH and not s.failed for s in self.steps):
            return "succeeded"
        return "unfinished"

    def to_json(self) -> dict[str, Any]:
        last = self.steps[-1]
        failed = last if last.failed else None
        return {
            "token": self.token,
            "kind": self.kind,
            "started": iso(self.steps[0].at),
            "ended": iso(last.at),
            "outcome": self.outcome,
            "failures": sum(1 for s in self.steps if s.failed),
            "failed_step": failed.step if failed else None,
            "error": failed.error if failed else None,
            "reason": failed.reason if failed else None,
            "steps": [s.to_json() for s in self.steps],
        }


_ROTATION_STEPS = {"createSecret", "setSecret", "testSecret", FINISH}


def read(
    inspector: Inspector,
    log_group: str,
    secret_arn: str,
    *,
    since: datetime,
) -> list[Rotation]:
    logs = inspector.aws.client("logs")
    request: dict[str, Any] = {
        "logGroupName": log_group,
        "filterPattern": f'"{secret_arn}"',
        "startTime": int(since.timestamp() * 1000),
    }
    rotations: dict[str, Rotation] = {}
    try:
        for _ in range(MAX_PAGES):
            page = logs.filter_log_events(**request)
            for event in page.get("events", []):
                line = StepLine.parse_any(event.get("message", ""), event.get("timestamp"))
                if line is None or line[0] != secret_arn:
                    continue
                token, step = line[1], line[2]
                rotations.setdefault(token, Rotation(token)).steps.append(step)
            if not page.get("nextToken"):
                break
            request["nextToken"] = page["nextToken"]
    except aws_errors() as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code == "ResourceNotFoundException":
            # Lambda creates the group on the function's first log line: it never ran.
            return []
        raise CliError(describe_failure(exc, "FilterLogEvents")) from None
    for rotation in rotations.values():
        rotation.steps.sort(key=lambda s: s.at or datetime.min.replace(tzinfo=UTC))
    return sorted(
        rotations.values(), key=lambda r: r.steps[0].at or datetime.min.replace(tzinfo=UTC)
    )


def run(inspector: Inspector, secret_id: str, *, days: float) -> dict[str, Any]:
    secret = inspector.secret(secret_id)
    if not secret.function_arn:
        raise CliError(f"secret {secret.name} has no rotation function: there is no log to read")
    unknown: list[Any] = []
    function = inspector.function(secret.function_arn, unknown)
    log_group = (
        function.log_group if function else f"/aws/lambda/{function_name(secret.function_arn)}"
    )
    since = inspector.now() - timedelta(days=days)
    rotations = read(inspector, log_group, secret.arn, since=since)
    listed = [r.to_json() for r in reversed(rotations)]
    if listed:
        last = listed[0]
        message = (
            f"{len(listed)} rotation(s) and drop(s) logged in {days:g} day(s); the latest "
            f"{last['kind']} {last['outcome']}"
        )
        if last["outcome"] == "failed":
            message += f" at {last['failed_step']}: {last['error']}: {last['reason']}"
    else:
        message = f"no rotation logged in {days:g} day(s)"
    return {
        "command": "history",
        "secret": secret.arn,
        "log_group": log_group,
        "since": iso(since),
        "rotations": listed,
        "verdict": {
            "code": VERDICT,
            "message": message,
            "next": f"memorydb-rotation status {secret.name}",
        },
        "exit_code": 0,
    }


def render(out: Any, doc: dict[str, Any]) -> None:
    from memorydb_rotation_cli.render import verdict

    out.table(
        f"rotations ({doc['log_group']}, newest first)",
        ["started", "ended", "kind", "outcome", "failures", "failed step", "error", "reason"],
        [
            [
                r["started"],
                r["ended"],
                r["kind"],
                r["outcome"],
                r["failures"],
                r["failed_step"],
                r["error"],
                r["reason"],
            ]
            for r in doc["rotations"]
        ],
    )
    verdict(out, doc)
