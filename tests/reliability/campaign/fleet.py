"""A fleet rotated by one deployment: many secrets and users over several clusters, the function in
fleet mode (ROTATION_USER_TAG), each rotation checked against the reliability invariants, and the
AWS calls of each rotation compared with a named-mode rotation (ROTATION_ALLOWED_USERS) taken in
the same run on the same shape of cluster. Users without the fleet's tag are refused with no write.

    python -m tests.reliability.campaign.fleet --users 200 --clusters 4    # make fleet

The secrets and users are created first (not timed apart); `seconds` covers the whole run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from rotation.models import AWSCURRENT
from sandbox import Sandbox
from tests.reliability.campaign.invariants import InvariantChecker, Oracle

FLEET_TAG_KEY = "memorydb-rotation-fleet"
FLEET_NAME = "payments"
# Writes the function makes; an untagged user's rotation must make none of them.
WRITES = frozenset({"PutSecretValue", "UpdateSecretVersionStage", "UpdateUser", "TagResource"})
CI_FLEET = {"users": 24, "clusters": 3, "untagged": 2}
FULL_FLEET = {"users": 200, "clusters": 4, "untagged": 4}


@dataclass
class FleetResult:
    users: int
    clusters: int
    secrets: int = 0
    rotated: int = 0
    failures: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    invariant_checks: int = 0
    baseline_calls: Counter[str] = field(default_factory=Counter)
    calls_per_rotation: Counter[str] = field(default_factory=Counter)
    """The calls of every fleet rotation, when all were equal (empty when any differed)."""
    differing_calls: list[str] = field(default_factory=list)
    refused_untagged: int = 0
    untagged_writes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        calls = sum(self.calls_per_rotation.values())
        return [
            f"fleet: {self.secrets} secrets, {self.users} users, {self.clusters} clusters, "
            f"one deployment (ROTATION_USER_TAG={FLEET_TAG_KEY}={FLEET_NAME})",
            f"  rotated {self.rotated}, failures {len(self.failures)}, invariant violations "
            f"{len(self.violations)} over {self.invariant_checks} checks",
            f"  AWS calls per rotation: {calls} (named mode, same run: "
            f"{sum(self.baseline_calls.values())}); rotations that differed: "
            f"{len(self.differing_calls)}",
            f"  untagged users refused: {self.refused_untagged}, writes for them: "
            f"{len(self.untagged_writes)}",
            f"  {self.seconds:.1f} s, {self.seconds / max(self.rotated, 1):.3f} s per rotation",
        ]


def _tag(sandbox: Sandbox, user: str) -> None:
    sandbox.memorydb_client.tag_resource(
        ResourceArn=sandbox.user_arn(user), Tags=[{"Key": FLEET_TAG_KEY, "Value": FLEET_NAME}]
    )


def _rotate_checked(
    sandbox: Sandbox, arn: str, user: str, oracle: Oracle, result: FleetResult
) -> Counter[str] | None:
    """One rotation under the invariant checker; its AWS calls, or None when it failed."""
    checker = InvariantChecker(
        view=lambda: sandbox.view(arn), control_plane=sandbox, oracle=oracle, user=user
    ).start()
    token = str(uuid.uuid4())

    def before_step(step: str, attempt: int) -> None:
        checker.check(f"before {step} (attempt {attempt})")
        if step == "finishSecret":
            checker.proved(token)  # testSecret returned without error: the driver moved on

    sandbox.clear_calls()
    outcome = sandbox.driver(before_step=before_step).rotate(arn, token=token)
    calls = Counter(sandbox.calls())
    sandbox.settle()
    checker.check_end()
    result.invariant_checks += checker.checks
    result.violations += [f"{user}: {v}" for v in checker.violations]
    if not outcome.succeeded:
        error = outcome.last_error
        result.failures.append(f"{user}: {outcome.failed_step}: {error.error if error else '?'}")
        return None
    return calls


def run_fleet(users: int, clusters: int, untagged: int = 2) -> FleetResult:
    result = FleetResult(users=users, clusters=clusters)
    started = time.perf_counter()
    with Sandbox(propagation_delay=0.0) as sandbox:
        sandbox.configure_function(
            WAIT_INITIAL_INTERVAL_SECONDS="0.01", WAIT_MAX_INTERVAL_SECONDS="0.05"
        )
        for i in range(1, clusters + 1):
            sandbox.create_acl(f"fleet-{i}-acl")
        handles = [
            sandbox.create_cluster(f"fleet-{i}", replicas_per_shard=1, acl=f"fleet-{i}-acl")
            for i in range(1, clusters + 1)
        ]
        oracles = {handle.name: Oracle(handle.nodes[0].server) for handle in handles}

        def enrol(name: str, index: int, *, tagged: bool) -> tuple[str, str]:
            handle = handles[index % clusters]
            password = sandbox.create_user(name, acl=handle.acl)
            if tagged:
                _tag(sandbox, name)
            host, port = handle.endpoint
            return handle.name, sandbox.create_secret(name, password, host=host, port=port)

        # The same rotation in the named mode first: the calls a fleet rotation must not exceed.
        base_cluster, base_arn = enrol("named-user", 0, tagged=False)
        sandbox.configure_function(ROTATION_ALLOWED_USERS="named-user", ROTATION_USER_TAG=None)
        baseline = _rotate_checked(sandbox, base_arn, "named-user", oracles[base_cluster], result)
        result.baseline_calls = baseline or Counter()

        fleet = [
            (f"fleet-user-{i:04d}", *enrol(f"fleet-user-{i:04d}", i, tagged=True))
            for i in range(users)
        ]
        strays = [
            (f"stray-user-{i}", *enrol(f"stray-user-{i}", i, tagged=False)) for i in range(untagged)
        ]
        result.secrets = len(fleet) + len(strays)
        sandbox.configure_function(
            ROTATION_ALLOWED_USERS=None, ROTATION_USER_TAG=f"{FLEET_TAG_KEY}={FLEET_NAME}"
        )
        shapes: set[tuple[tuple[str, int], ...]] = set()
        for name, cluster, arn in fleet:
            calls = _rotate_checked(sandbox, arn, name, oracles[cluster], result)
            if calls is None:
                continue
            result.rotated += 1
            shapes.add(tuple(sorted(calls.items())))
            if calls != result.baseline_calls:
                result.differing_calls.append(f"{name}: {dict(calls)}")
            held = sandbox.accepts_everywhere(name, sandbox.view(arn).password(AWSCURRENT) or "")
            missing = [n for n, ok in held.items() if n.startswith(f"{cluster}-") and not ok]
            if missing:
                result.violations.append(f"{name}: AWSCURRENT refused on {missing}")
        if len(shapes) == 1:
            result.calls_per_rotation = Counter(dict(next(iter(shapes))))
        for name, _cluster, arn in strays:
            before = sandbox.view(arn).version_with(AWSCURRENT)
            sandbox.clear_calls()
            outcome = sandbox.driver(step_attempts=1).rotate(arn)
            writes = [call for call in sandbox.calls() if call in WRITES]
            error = outcome.last_error
            if (
                not outcome.succeeded
                and error is not None
                and "ROTATION_USER_TAG" in (error.error or "")
            ):
                result.refused_untagged += 1
            result.untagged_writes += [f"{name}: {call}" for call in writes]
            if sandbox.view(arn).version_with(AWSCURRENT) != before:
                result.untagged_writes.append(f"{name}: AWSCURRENT moved")
        for oracle in oracles.values():
            oracle.close()
    result.seconds = time.perf_counter() - started
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=FULL_FLEET["users"])
    parser.add_argument("--clusters", type=int, default=FULL_FLEET["clusters"])
    parser.add_argument("--untagged", type=int, default=FULL_FLEET["untagged"])
    parser.add_argument("--log", metavar="FILE", help="keep the function's own output in FILE")
    args = parser.parse_args(argv)
    # The function's JSON logs go to stdout; the figures are what this prints.
    with (
        open(args.log or os.devnull, "w", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        result = run_fleet(args.users, args.clusters, args.untagged)
    print("\n".join(result.lines()))
    for line in [*result.failures, *result.violations, *result.differing_calls[:5]]:
        print(f"  ! {line}")
    clean = not (result.failures or result.violations or result.differing_calls)
    return 0 if clean and result.refused_untagged == args.untagged else 1


if __name__ == "__main__":
    raise SystemExit(main())
