"""The smoke test of a deployed example stack: one rotation, followed to the end, then one verdict.

    python -m tests.e2e.smoke --stack NAME [--region R] [--timeout 900]
    make e2e STACK=NAME

It needs only what a user has: AWS credentials (the default chain) and the stack's outputs, read
with CloudFormation DescribeStacks (SecretArn, UserName, LogGroupName, OldPasswordPolicy). It
rotates the secret, waits (bounded, backing off) until the new version is AWSCURRENT and no
AWSPENDING is left, and checks: AWSCURRENT moved to the new version; the MemoryDB user holds the
number of passwords the policy leaves (drop: 1; keep and drop-after: 2, the old one still valid);
and the function's log has a "step succeeded" line for each of the four steps of this rotation,
each naming every cluster of the user and as many nodes as MemoryDB lists for them. It prints
one line per check and a last line `smoke: PASS ...` or `smoke: FAIL ...`. It never prints a
secret value: it reads labels, counts and log lines the function wrote (which hold none).

CI runs the same `run()` against the served sandbox (tests/e2e/test_smoke.py), where the stack
is a CloudFormation stack in moto whose outputs name the sandbox's secret, user and log group.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
PASSWORDS_AFTER = {"drop": 1, "keep": 2, "drop-after": 2}
OUTPUTS = ("SecretArn", "UserName", "LogGroupName", "OldPasswordPolicy")


class SmokeError(Exception):
    """The smoke test cannot run (no such stack, an output missing, access denied)."""


@dataclass
class Verdict:
    stack: str
    checks: list[tuple[bool, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(ok for ok, _ in self.checks)

    def check(self, ok: bool, what: str) -> bool:
        self.checks.append((ok, what))
        return ok

    def line(self) -> str:
        failed = [what for ok, what in self.checks if not ok]
        if self.passed:
            return f"smoke: PASS {self.stack}: {len(self.checks)} checks in {self.seconds:.0f}s"
        return f"smoke: FAIL {self.stack}: {len(failed)} of {len(self.checks)} checks: " + (
            "; ".join(failed) or "nothing was checked"
        )


def stack_outputs(session: Any, stack: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    try:
        described = session.client("cloudformation").describe_stacks(StackName=stack)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise SmokeError(f"cannot describe stack {stack}: {code}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}
    missing = [name for name in OUTPUTS if name not in outputs]
    if missing:
        raise SmokeError(f"stack {stack} has no output {', '.join(missing)}")
    if outputs["OldPasswordPolicy"] not in PASSWORDS_AFTER:
        raise SmokeError(f"stack {stack}: unknown OldPasswordPolicy {outputs['OldPasswordPolicy']}")
    return outputs


def _labels(sm: Any, secret: str) -> dict[str, list[str]]:
    versions: dict[str, list[str]] = sm.describe_secret(SecretId=secret).get(
        "VersionIdsToStages", {}
    )
    return versions


def _holder(versions: dict[str, list[str]], stage: str) -> str | None:
    return next((v for v, stages in versions.items() if stage in stages), None)


def wait_for_rotation(
    sm: Any,
    secret: str,
    token: str,
    *,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, list[str]]:
    """Until `token` is AWSCURRENT and no version is AWSPENDING, or `timeout` (then returns the
    labels as they stand). Polls DescribeSecret backing off from 1 s to 15 s."""
    deadline, pause = clock() + timeout, 1.0
    while True:
        versions = _labels(sm, secret)
        if _holder(versions, "AWSCURRENT") == token and _holder(versions, "AWSPENDING") is None:
            return versions
        if clock() + pause > deadline:
            return versions
        sleep(pause)
        pause = min(pause * 2, 15.0)


def user_nodes(mdb: Any, user: str) -> dict[str, int]:
    """cluster -> node count, for every cluster whose ACL holds the user (the API's view)."""
    described = mdb.describe_users(UserName=user)["Users"][0]
    clusters: set[str] = set()
    for acl in described.get("ACLNames", []):
        if acl == "open-access":
            continue
        for found in mdb.describe_acls(ACLName=acl).get("ACLs", []):
            if user in found.get("UserNames", []):
                clusters.update(found.get("Clusters", []))
    counts = {}
    for name in sorted(clusters):
        cluster = mdb.describe_clusters(ClusterName=name, ShowShardDetails=True)["Clusters"][0]
        counts[name] = sum(len(shard.get("Nodes", [])) for shard in cluster.get("Shards", []))
    return counts


def step_lines(
    logs: Any, group: str, token: str, since_ms: int, message: str = "step succeeded"
) -> dict[str, dict[str, Any]]:
    """step -> the function's last `message` log line for this rotation's token."""
    found: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {"logGroupName": group, "startTime": since_ms}
    while True:
        page = logs.filter_log_events(**request)
        for event in page.get("events", []):
            try:
                line = json.loads(event["message"])
            except (ValueError, TypeError):
                continue
            if (
                isinstance(line, dict)
                and line.get("message") == message
                and line.get("token") == token
            ):
                found[str(line.get("step"))] = line
        if not page.get("nextToken"):
            return found
        request["nextToken"] = page["nextToken"]


def run(
    session: Any,
    stack: str,
    *,
    timeout: float = 900.0,
    log_wait: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
    out: Callable[[str], None] = print,
) -> Verdict:
    started = time.monotonic()
    verdict = Verdict(stack)
    outputs = stack_outputs(session, stack)
    secret, user, policy = outputs["SecretArn"], outputs["UserName"], outputs["OldPasswordPolicy"]
    sm, mdb, logs = (session.client(s) for s in ("secretsmanager", "memorydb", "logs"))

    before = _holder(_labels(sm, secret), "AWSCURRENT")
    since_ms = int(time.time() * 1000) - 5000  # a little earlier: clocks differ
    token = sm.rotate_secret(SecretId=secret)["VersionId"]
    out(f"smoke: rotating {secret} (policy {policy}), token {token}")
    versions = wait_for_rotation(sm, secret, token, timeout=timeout, sleep=sleep)

    current = _holder(versions, "AWSCURRENT")
    verdict.check(current == token and current != before, f"AWSCURRENT moved to {token}")
    verdict.check(_holder(versions, "AWSPENDING") is None, "no AWSPENDING left")
    count = mdb.describe_users(UserName=user)["Users"][0]["Authentication"]["PasswordCount"]
    expected = PASSWORDS_AFTER[policy]
    verdict.check(
        count == expected, f"{user} holds {count} password(s), {policy} leaves {expected}"
    )

    nodes = user_nodes(mdb, user)
    total = sum(nodes.values())
    verdict.check(total > 0, f"{user} is on {len(nodes)} cluster(s), {total} node(s)")
    # Lambda delivers log lines to CloudWatch Logs within seconds to minutes: wait, bounded.
    deadline, pause = time.monotonic() + log_wait, 1.0
    lines = step_lines(logs, outputs["LogGroupName"], token, since_ms)
    while set(lines) < set(STEPS) and time.monotonic() + pause < deadline:
        sleep(pause)
        pause = min(pause * 2, 15.0)
        lines = step_lines(logs, outputs["LogGroupName"], token, since_ms)
    # Secrets Manager retries a failed step: a failure line matters only if the rotation failed.
    if not verdict.passed:
        for step, line in step_lines(
            logs, outputs["LogGroupName"], token, since_ms, "step failed"
        ).items():
            out(f"  the function logged: {step} failed: {line.get('error')}: {line.get('reason')}")
    for step in STEPS:
        succeeded = lines.get(step)
        if succeeded is None:
            verdict.check(False, f"{step}: no 'step succeeded' line for this token")
            continue
        proven = sorted(succeeded.get("clusters") or [])
        verdict.check(
            proven == sorted(nodes) and succeeded.get("nodes") == total,
            f"{step} {succeeded.get('outcome')}: proven on {succeeded.get('nodes')}/{total} "
            f"nodes of {', '.join(proven) or 'no cluster'}",
        )
    verdict.seconds = time.monotonic() - started
    for ok, what in verdict.checks:
        out(f"  {'ok  ' if ok else 'FAIL'} {what}")
    out(verdict.line())
    return verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.smoke", description=__doc__)
    parser.add_argument("--stack", required=True, help="the deployed example stack's name")
    parser.add_argument("--region", default=None)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the rotation")
    args = parser.parse_args(argv)
    import boto3

    session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    try:
        verdict = run(session, args.stack, timeout=args.timeout)
    except SmokeError as exc:
        print(f"smoke: FAIL {args.stack}: {exc}")
        return 2
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
