"""The fault campaign: record one clean rotation, then fault every call index, before and after.

Families (each case is one rotation, retried as Secrets Manager does, invariants checked after
every AWS attempt and every data-plane connection, outputs scanned for secrets):
- AWS faults: for every HTTP attempt index of the clean rotation, a fault before it (never lands)
  and after it (lands, answer lost). The kind cycles through throttling, connection error, read
  timeout, 5xx and a kill, and every other group of five is an outage that outlasts botocore's
  retries, so the step itself fails and is retried. `full=True` runs every kind, blip and outage,
  at every index.
- data-plane faults: for every connection of the clean rotation, a refusal and a reset mid-AUTH.
- timeouts: the Lambda's time running out inside the wait for `active`, and a kill in that wait.
- grace: OLD_PASSWORD_POLICY=drop-after, faults at every AWS attempt of finishSecret (which
  creates the schedule) and of the scheduled drop (gracefaults.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sandbox.sandbox import Sandbox
from tests.reliability.campaign.faults import KINDS, Fault, Position
from tests.reliability.campaign.harness import Harness, RotationRun, function_timeout
from tests.reliability.campaign.proxy import DataFault

POSITIONS: tuple[Position, ...] = ("before", "after")
DATA_FAULTS: tuple[DataFault, ...] = ("refuse", "reset_mid_auth")


class LogicalClock:
    """MemoryDB's propagation measured in observations, not seconds, so every run makes the same
    calls: each reading advances the clock by `tick` (see docs/decisions.md)."""

    def __init__(self, tick: float = 0.01) -> None:
        self._now = 0.0
        self._tick = tick
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self._now += self._tick
            return self._now


@dataclass(frozen=True)
class CaseResult:
    family: str
    name: str
    ok: bool
    detail: str
    leaks: int = 0
    """How many secrets showed up in an output, exception, metric or trace."""
    writes: int = 0
    """Writes a refused invocation made (bad input only)."""
    botocore_retries: int = 0
    failed_invocations: int = 0
    """Invocations that failed and Secrets Manager's retry (the same token) had to repeat."""


@dataclass(frozen=True)
class CleanRecord:
    operations: tuple[str, ...]
    connections: int


def record_clean(harness: Harness) -> CleanRecord:
    arn, user = harness.new_secret("clean")
    run = harness.rotate(arn, user)
    if not run.succeeded or run.violations or run.leaks:
        raise RuntimeError(f"the clean rotation is not clean: {run.summary()}")
    operations = tuple(r.operation for r in harness.injector.records)
    return CleanRecord(operations, harness.proxy.connections)


def aws_faults(clean: CleanRecord, *, full: bool = False) -> list[Fault]:
    faults: list[Fault] = []
    counter = 0
    for index in range(len(clean.operations)):
        for position in POSITIONS:
            if full:
                for kind in KINDS:
                    faults.append(Fault(index, position, kind))
                    if kind != "kill":
                        faults.append(Fault(index, position, kind, outage=True))
            else:
                kind = KINDS[counter % len(KINDS)]
                outage = (counter // len(KINDS)) % 2 == 1 and kind != "kill"
                faults.append(Fault(index, position, kind, outage=outage))
                counter += 1
    return faults


def _result(family: str, name: str, run: RotationRun, fired: bool) -> CaseResult:
    ok = run.succeeded and not run.violations and not run.leaks and fired
    detail = run.summary() if fired else "the planned fault never fired"
    return CaseResult(
        family,
        name,
        ok,
        detail,
        leaks=len(run.leaks),
        botocore_retries=run.botocore_retries,
        failed_invocations=run.step_failures,
    )


def run_aws_fault(harness: Harness, clean: CleanRecord, fault: Fault) -> CaseResult:
    arn, user = harness.new_secret("aws")
    run = harness.rotate(arn, user, fault=fault)
    records = harness.injector.records
    operation = records[fault.index].operation if fault.index < len(records) else "?"
    name = f"{fault.label} {operation}"
    return _result("aws", name, run, harness.injector.fired)


def run_data_fault(harness: Harness, index: int, fault: DataFault) -> CaseResult:
    arn, user = harness.new_secret("data")
    run = harness.rotate(arn, user, data_fault=(index, fault))
    return _result("data-plane", f"connection #{index} {fault}", run, bool(harness.proxy.faulted))


def run_timeouts(harness: Harness) -> Iterator[CaseResult]:
    """The Lambda's time runs out inside the wait: once as a bounded stop, once as a kill."""
    sandbox = harness.sandbox
    # time_left = remaining - reserve: a function of reserve + 0.6 s waits about 0.6 s.
    sandbox.configure_function(CONNECT_TIMEOUT_SECONDS="0.5")
    try:
        # These cases race real time on purpose.
        with sandbox.propagation_clock(time.monotonic):
            arn, user = harness.new_secret("timeout")
            held = _hold_before(sandbox, user, "setSecret", seconds=1.5)
            run = harness.rotate(arn, user, before_step=held, timeout_seconds=function_timeout(0.6))
            timed_out = any(
                a.error_type == "WaitTimeoutError" for o in run.outcomes for a in o.attempts
            )
            yield _result(
                "timeout", "wait outlives the function's time (setSecret)", run, timed_out
            )

            arn, user = harness.new_secret("timeout")
            polls = {"n": 0}

            def third_poll(operation: str) -> bool:
                if operation == "DescribeUsers" and sandbox.user_status(user) == "modifying":
                    polls["n"] += 1
                return polls["n"] >= 3

            held = _hold_before(sandbox, user, "testSecret", seconds=0.5)
            run = harness.rotate(arn, user, before_step=held, kill_when=third_poll)
            yield _result("timeout", "killed inside the wait (testSecret)", run, run.kills == 1)
    finally:
        sandbox.configure_function()


def _hold_before(
    sandbox: Sandbox, user: str, step: str, *, seconds: float
) -> Callable[[str, int], None]:
    done = {"held": False}

    def before_step(name: str, attempt: int) -> None:
        if name == step and not done["held"]:
            done["held"] = True
            sandbox.settle()
            sandbox.hold_modifying(user, seconds)

    return before_step


def run_campaign(
    sandbox: Sandbox, *, full: bool = False, progress: Callable[[CaseResult], None] | None = None
) -> tuple[CleanRecord, list[CaseResult]]:
    """The clean rotation's record (the plan's source) and every case's result."""
    results: list[CaseResult] = []

    def keep(result: CaseResult) -> None:
        results.append(result)
        if progress is not None:
            progress(result)

    # At DEBUG: what an operator debugging a failure would run with.
    with sandbox.propagation_clock(LogicalClock()), Harness(sandbox, debug_logs=True) as harness:
        clean = record_clean(harness)
        for fault in aws_faults(clean, full=full):
            keep(run_aws_fault(harness, clean, fault))
        for index in range(clean.connections):
            for data_fault in DATA_FAULTS:
                keep(run_data_fault(harness, index, data_fault))
        for result in run_timeouts(harness):
            keep(result)
        # Imported here: gracefaults builds on this module's CaseResult and POSITIONS.
        from tests.reliability.campaign.gracefaults import run_grace_faults

        for result in run_grace_faults(harness, full=full):
            keep(result)
    return clean, results
