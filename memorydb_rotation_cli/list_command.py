"""`memorydb-rotation list FUNCTION`: every secret a deployment rotates, with its state.

A secret belongs to a deployment when its RotationLambdaARN is the function's ARN. Everything
comes from ListSecrets (paginated): one call per hundred secrets, however large the fleet, and
no secret value is ever read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from memorydb_rotation_cli.aws import Aws, CliError, aws_errors, describe_failure
from memorydb_rotation_cli.render import Output

FLEET_TAG = "memorydb-rotation-fleet"
PAGE_SIZE = 100  # ListSecrets' largest MaxResults
# A secret's state in the table, read from ListSecrets alone: the vocabulary of list.schema.json
# (tests/cli/test_schemas.py).
STATES = ("rotation disabled", "rotating", "rotated", "never rotated")


def _function_arn(aws: Aws, function: str) -> str:
    if function.startswith("arn:"):
        return function
    try:
        found = aws.client("lambda").get_function_configuration(FunctionName=function)
    except aws_errors() as exc:
        failure = describe_failure(exc, "lambda GetFunctionConfiguration")
    else:
        return str(found["FunctionArn"])
    raise CliError(f"{failure}; pass the function's ARN instead of its name")


def _secrets(aws: Aws) -> Iterator[dict[str, Any]]:
    client = aws.client("secretsmanager")
    token: str | None = None
    while True:
        request: dict[str, Any] = {
            "MaxResults": PAGE_SIZE,
            **({"NextToken": token} if token else {}),
        }
        try:
            page = client.list_secrets(**request)
        except aws_errors() as exc:
            failure = describe_failure(exc, "secretsmanager ListSecrets")
            break
        yield from page.get("SecretList", [])
        token = page.get("NextToken")
        if not token:
            return
    raise CliError(failure)


def _rotated_by(entry: dict[str, Any], function_arn: str) -> bool:
    arn = str(entry.get("RotationLambdaARN") or "")
    # A qualified ARN (version or alias) still names the same function.
    return arn == function_arn or arn.startswith(function_arn + ":")


def _when(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    stages: dict[str, list[str]] = entry.get("SecretVersionsToStages") or {}
    pending = [
        v for v, labels in stages.items() if "AWSPENDING" in labels and "AWSCURRENT" not in labels
    ]
    if not entry.get("RotationEnabled"):
        state = "rotation disabled"
    elif pending:
        state = "rotating"  # or a failed rotation that left AWSPENDING: `status` tells which
    elif entry.get("LastRotatedDate"):
        state = "rotated"
    else:
        state = "never rotated"
    tags = {str(t.get("Key")): str(t.get("Value")) for t in entry.get("Tags") or []}
    return {
        "arn": entry.get("ARN"),
        "name": entry.get("Name"),
        "state": state,
        "rotation_enabled": bool(entry.get("RotationEnabled")),
        "last_rotated": _when(entry.get("LastRotatedDate")),
        "next_rotation": _when(entry.get("NextRotationDate")),
        "pending_version": pending[0] if pending else None,
        "fleet": tags.get(FLEET_TAG),
    }


def run(aws: Aws, function: str) -> dict[str, Any]:
    function_arn = _function_arn(aws, function)
    rows = sorted(
        (_row(entry) for entry in _secrets(aws) if _rotated_by(entry, function_arn)),
        key=lambda row: str(row["name"]),
    )
    states: dict[str, int] = {}
    for row in rows:
        states[row["state"]] = states.get(row["state"], 0) + 1
    return {
        "command": "list",
        "function_arn": function_arn,
        "count": len(rows),
        "states": states,
        "secrets": rows,
        "exit_code": 0,
    }


def render(out: Output, doc: dict[str, Any]) -> None:
    rows = doc["secrets"]
    if not rows:
        out.line(f"no secret names {doc['function_arn']} as its rotation function")
        return
    out.table(
        f"secrets rotated by {doc['function_arn']}",
        ["secret", "state", "last rotated", "next rotation", "fleet"],
        [[r["name"], r["state"], r["last_rotated"], r["next_rotation"], r["fleet"]] for r in rows],
    )
    summary = ", ".join(f"{count} {state}" for state, count in sorted(doc["states"].items()))
    out.line(f"{doc['count']} secret(s): {summary}")
