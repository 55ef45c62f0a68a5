"""The reliability report: one line per family, then the totals.

    python -m tests.reliability.campaign.report         # CI-sized (about 40 s here)
    python -m tests.reliability.campaign.report --full  # every fault kind at every index;
                                                        # 1,000 secrets

Every count is the number of cases that ran and passed; the exit status is 1 when any failed.
The function's own output (its JSON logs and metrics) is discarded unless `--log FILE` names a
file for it, so the report stays readable and nothing is left behind; the leak scanners still
see that output first.

`make test` does not run this module: the pytest run (tests/reliability) runs every family once
and prints these same lines at its end (tests/reliability/conftest.py). This module is the
standalone run, and the only one of the full size.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, TextIO

from sandbox.sandbox import Sandbox
from tests.reliability.campaign.badinput import run_bad_inputs
from tests.reliability.campaign.campaign import CaseResult, run_campaign
from tests.reliability.campaign.consumers import CI_PLAN, FULL_PLAN, run_consumers
from tests.reliability.campaign.drift import run_drift
from tests.reliability.campaign.leakcases import run_leak_cases
from tests.reliability.campaign.load import CI_LOAD, FULL_LOAD, LoadResult, run_load

FAULT_FAMILIES = (
    ("aws", "survived (every AWS call index, before and after)"),
    ("data-plane", "survived (every redis connection refused or reset mid-AUTH)"),
    ("timeout", "survived (the Lambda's time running out inside a wait)"),
    ("grace", "survived (drop-after: every AWS call of finishSecret and of the drop)"),
)
FAMILIES = (
    ("bad-input", "bad inputs", "refused, clear error, 0 writes"),
    ("hostile-safe", "races and late retries", "came through, nothing broken, no stray write"),
    ("drift", "drift", "recovered as documented"),
    ("leaks", "leaks", "leak checks passed"),
)


@contextlib.contextmanager
def _function_output_to(log: IO[str]) -> Iterator[None]:
    handlers = [
        h
        for lg in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        if isinstance(lg, logging.Logger)
        for h in lg.handlers
        if isinstance(h, logging.StreamHandler)
    ]
    saved = [(h, h.setStream(log)) for h in handlers]
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            yield
    finally:
        for handler, stream in saved:
            handler.setStream(stream)


def _count(results: Iterable[CaseResult]) -> tuple[int, int]:
    items = list(results)
    return sum(r.ok for r in items), len(items)


def fault_lines(results: list[CaseResult]) -> list[str]:
    lines = []
    for family, what in FAULT_FAMILIES:
        mine = [r for r in results if r.family == family]
        if not mine:
            continue
        ok, total = _count(mine)
        retried = sum(r.botocore_retries for r in mine)
        failed = sum(r.failed_invocations for r in mine)
        lines.append(
            f"faults/{family}: {ok}/{total} {what}; {retried} botocore retries, "
            f"{failed} failed invocations retried with the same token"
        )
    return lines


def family_line(family: str, results: list[CaseResult], seconds: float | None = None) -> str:
    title, what = next((t, w) for f, t, w in FAMILIES if f == family)
    ok, total = _count(r for r in results if r.family == family)
    timing = f" ({seconds:.0f}s)" if seconds is not None else ""
    return f"{title}: {ok}/{total} {what}{timing}"


def totals_line(results: list[CaseResult], load: LoadResult | None) -> str:
    fault_ok, fault_total = _count(r for r in results if r.family in dict(FAULT_FAMILIES))
    bad = [r for r in results if r.family == "bad-input"]
    bad_ok = sum(r.ok and r.writes == 0 for r in bad)
    drift_ok, drift_total = _count(r for r in results if r.family == "drift")
    return (
        f"faults: {fault_ok}/{fault_total} survived, "
        f"bad inputs: {bad_ok}/{len(bad)} refused with {sum(r.writes for r in bad)} writes, "
        f"drift: {drift_ok}/{drift_total}, "
        f"load: {load.completed if load else 0}/{load.secrets if load else 0}, "
        f"leaks: {sum(r.leaks for r in results)}"
    )


def report_lines(results: list[CaseResult], load: LoadResult | None) -> list[str]:
    """The report of whatever families ran (the pytest run prints this at its end)."""
    lines = fault_lines(results)
    lines += [
        family_line(f, results) for f, _t, _w in FAMILIES if any(r.family == f for r in results)
    ]
    if load is not None:
        lines.append(load.line())
    return [*lines, totals_line(results, load)]


@dataclass
class Collected:
    """What the pytest run's reliability tests produced, for the report at its end."""

    results: list[CaseResult] = field(default_factory=list)
    load: LoadResult | None = None


class Report:
    def __init__(self, out: TextIO, verbose: bool) -> None:
        self.out = out
        self.verbose = verbose
        self.results: list[CaseResult] = []
        self.failed = False

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def case(self, result: CaseResult) -> None:
        self.results.append(result)
        if not result.ok:
            self.failed = True
        if self.verbose or not result.ok:
            mark = "ok  " if result.ok else "FAIL"
            self.say(f"  {mark} {result.family}: {result.name} -- {result.detail}")

    def family(self, family: str, run: Callable[[], Iterable[CaseResult]]) -> None:
        started = time.monotonic()
        results = []
        for result in run():
            self.case(result)
            results.append(result)
        self.say(family_line(family, results, time.monotonic() - started))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.campaign.report")
    parser.add_argument("--full", action="store_true", help="every fault kind; 1,000 secrets")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per case")
    parser.add_argument("--load-secrets", type=int, help="override the load size")
    parser.add_argument("--log", metavar="FILE", help="keep the function's own output in FILE")
    args = parser.parse_args(argv)

    report = Report(sys.stdout, args.verbose)
    started = time.monotonic()
    load_options: dict[str, Any] = dict(FULL_LOAD if args.full else CI_LOAD)
    if args.load_secrets:
        load_options["secrets"] = args.load_secrets
    load: LoadResult | None = None
    with (
        open(args.log or os.devnull, "w", encoding="utf-8") as log,
        _function_output_to(log),
    ):

        def in_sandbox(
            run: Callable[[Sandbox], Iterable[CaseResult]],
        ) -> Callable[[], list[CaseResult]]:
            def go() -> list[CaseResult]:
                with Sandbox(propagation_delay=0.05) as sandbox:
                    return list(run(sandbox))

            return go

        fault_started = time.monotonic()
        with Sandbox(propagation_delay=0.05) as sandbox:
            _clean, faults = run_campaign(sandbox, full=args.full)
        for result in faults:
            report.case(result)
        for line in fault_lines(faults):
            report.say(line)
        report.say(f"  (fault campaign {time.monotonic() - fault_started:.0f}s)")
        report.family("bad-input", in_sandbox(run_bad_inputs))
        report.say(family_line("hostile-safe", report.results))  # the same table's other kind
        report.family("drift", in_sandbox(run_drift))
        report.family("leaks", in_sandbox(run_leak_cases))
        plan = FULL_PLAN if args.full else CI_PLAN
        consumers_started = time.monotonic()
        consumers = run_consumers(plan)
        report.say(
            f"consumers: {sum(r.judged_ok() for r in consumers)}/{len(consumers)} policies as "
            f"promised (caching client R = {plan.refresh_seconds} s, grace "
            f"{plan.grace_seconds} s, {plan.rotations} rotations {plan.spacing_seconds} s apart, "
            f"{plan.consumers_per_kind} consumers per kind, a connection each every "
            f"{plan.interval_seconds * 1000:.0f} ms; {time.monotonic() - consumers_started:.0f}s)"
        )
        for outcome in consumers:
            report.say(outcome.line())
            if not outcome.judged_ok():
                report.failed = True
                for error in outcome.errors[:3]:
                    report.say(f"  FAIL consumers/{outcome.policy}: {error}")
        load = run_load(**load_options, progress=lambda m: print(m, file=log, flush=True))
        if not load.ok:
            report.failed = True
            for failure in [*load.failures[:5], *load.violations[:5]]:
                report.say(f"  FAIL load: {failure}")
        report.say(load.line())

    report.say(totals_line(report.results, load))
    kept = f"; the function's output is in {args.log}" if args.log else ""
    report.say(f"({time.monotonic() - started:.0f}s{kept})")
    leaks = sum(r.leaks for r in report.results)
    return 1 if report.failed or leaks else 0


if __name__ == "__main__":
    sys.exit(main())
