"""Faults around OLD_PASSWORD_POLICY=drop-after's schedule: its creation in finishSecret and its
firing (the scheduled drop of the old password).

A clean drop-after rotation and its firing are recorded first. Then, for every AWS attempt of
finishSecret (CreateSchedule among them) and every AWS attempt of the scheduled drop, a fault
before it and one after it, planned as the AWS fault family plans them (the kind cycling
through throttling, connection error, read timeout, 5xx and a kill, every other group of five an
outage that outlasts botocore's retries; `full=True`: every kind, blip and outage, at every
attempt). A failed finishSecret is retried with the same token as Secrets Manager does; a failed
drop is retried as Lambda retries an asynchronous invocation (twice). Invariants are checked after
every AWS attempt of both, outputs are scanned for secrets, and after the grace the user must
hold one password.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from tests.reliability.campaign.campaign import CaseResult, CleanRecord, aws_faults
from tests.reliability.campaign.faults import Fault
from tests.reliability.campaign.harness import Harness, RotationRun

GRACE_SECONDS = 600
FAMILY = "grace"


@dataclass(frozen=True)
class GraceRecord:
    finish_operations: tuple[tuple[int, str], ...]
    """(attempt index in the rotation, operation) of every AWS attempt finishSecret made."""
    drop_operations: tuple[str, ...]


def record_clean_grace(harness: Harness) -> GraceRecord:
    arn, user = harness.new_secret("grace-clean")
    finish_start: dict[str, int] = {}

    def mark(step: str, attempt: int) -> None:
        if step == "finishSecret":
            finish_start.setdefault(step, len(harness.injector.records))

    run = harness.rotate(arn, user, before_step=mark, keep_old=True)
    records = list(harness.injector.records)
    firings = harness.fire(run, arn, user, after_seconds=GRACE_SECONDS + 60)
    drop = tuple(r.operation for r in harness.injector.records)
    finish = tuple((r.index, r.operation) for r in records[finish_start.get("finishSecret", 0) :])
    if not run.succeeded or run.violations or run.leaks or [f.succeeded for f in firings] != [True]:
        raise RuntimeError(f"the clean drop-after rotation is not clean: {run.summary()}")
    if "CreateSchedule" not in {op for _, op in finish} or "UpdateUser" not in drop:
        raise RuntimeError("the clean drop-after rotation did not schedule and drop")
    return GraceRecord(finish, drop)


def _case(name: str, run: RotationRun, fired: bool, dropped: bool) -> CaseResult:
    ok = run.succeeded and not run.violations and not run.leaks and fired and dropped
    detail = run.summary() if fired else "the planned fault never fired"
    if fired and not dropped:
        detail = f"the scheduled drop never succeeded; {detail}"
    return CaseResult(
        FAMILY,
        name,
        ok,
        detail,
        leaks=len(run.leaks),
        botocore_retries=run.botocore_retries,
        failed_invocations=run.step_failures,
    )


def _faults(count: int, offset: int, *, full: bool) -> list[Fault]:
    """The fault campaign's plan for `count` attempts, shifted to start at attempt `offset`."""
    plan = aws_faults(CleanRecord(tuple("?" * count), 0), full=full)
    return [replace(fault, index=fault.index + offset) for fault in plan]


def run_grace_faults(harness: Harness, *, full: bool = False) -> Iterator[CaseResult]:
    sandbox = harness.sandbox
    sandbox.drop_after(GRACE_SECONDS)
    try:
        clean = record_clean_grace(harness)
        first = clean.finish_operations[0][0]
        operations = dict(clean.finish_operations)
        for fault in _faults(len(clean.finish_operations), first, full=full):
            arn, user = harness.new_secret("grace")
            run = harness.rotate(arn, user, fault=fault, keep_old=True)
            fired = harness.injector.fired
            firings = harness.fire(run, arn, user, after_seconds=GRACE_SECONDS + 60)
            dropped = any(f.succeeded for f in firings)
            name = f"finishSecret {fault.label} {operations.get(fault.index, '?')}"
            yield _case(name, run, fired, dropped)
        for fault in _faults(len(clean.drop_operations), 0, full=full):
            arn, user = harness.new_secret("grace")
            run = harness.rotate(arn, user, keep_old=True)
            firings = harness.fire(run, arn, user, after_seconds=GRACE_SECONDS + 60, fault=fault)
            fired = harness.injector.fired
            dropped = any(f.succeeded for f in firings)
            yield _case(
                f"drop {fault.label} {clean.drop_operations[fault.index]}", run, fired, dropped
            )
    finally:
        sandbox.configure_function()
