"""The benchmarks that run the function in-process against the sandbox (moto via mock_aws).

    python -m bench.inprocess waiting --delays 1 5 30 --runs 7 3 1 --out FILE
    python -m bench.inprocess calls --delay 1 --out FILE
    python -m bench.inprocess scale --rotations 200 --out FILE

Run by bench.run in a subprocess with the template's default environment and stdout discarded
(the function logs at INFO and prints EMF metrics there); results go to FILE as JSON. The
function runs with its DEFAULT wait settings (0.5 s initial, 5 s max interval), not the fast
ones the tests use.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from typing import Any

from bench.accounting import split_self_time
from bench.calllog import CallLog, served_actions
from sandbox.driver import STEPS
from sandbox.sandbox import Sandbox

USER = "bench-user"
DEFAULT_WAITS: dict[str, str | None] = {
    "WAIT_INITIAL_INTERVAL_SECONDS": None,
    "WAIT_MAX_INTERVAL_SECONDS": None,
    "WAIT_TIMEOUT_SECONDS": None,
    "CONNECT_TIMEOUT_SECONDS": None,
}


def _prepare(sandbox: Sandbox) -> tuple[str, Any]:
    from rotation.handler import lambda_handler

    sandbox.configure_function(**DEFAULT_WAITS)
    password = sandbox.create_user(USER)
    arn = sandbox.create_secret(USER, password)
    return arn, lambda_handler


def waiting(delays: list[float], runs: list[int]) -> dict[str, Any]:
    """Wall time of full rotations with D seconds of propagation per update."""
    results: dict[str, Any] = {}
    with Sandbox(tls=True, propagation_delay=delays[0]) as sandbox:
        arn, handler = _prepare(sandbox)
        driver = sandbox.driver(handler)
        for delay, count in zip(delays, runs, strict=True):
            sandbox.set_propagation_delay(delay)
            samples: list[dict[str, Any]] = []
            for _ in range(count):
                sandbox.settle()  # the previous rotation's drop: not this one's wait
                sandbox.clear_calls()
                started = time.monotonic()
                outcome = driver.rotate(arn)
                elapsed = time.monotonic() - started
                samples.append(
                    {
                        "seconds": elapsed,
                        "succeeded": outcome.succeeded,
                        "updates": sandbox.calls().count("UpdateUser"),
                        "polls": sandbox.calls().count("DescribeUsers"),
                        "attempts": len(outcome.attempts),
                    }
                )
            results[str(delay)] = samples
    return results


def calls(delay: float) -> dict[str, Any]:
    """AWS calls of one rotation, per step, seen by botocore in the function's process."""
    log = CallLog()
    with Sandbox(tls=True, propagation_delay=delay) as sandbox:
        log.install()
        arn, handler = _prepare(sandbox)

        def counted(event: dict[str, Any], context: Any) -> Any:
            log.start_invocation(str(event["Step"]))
            return handler(event, context)

        # Counted where moto dispatches: every action, not only the ones the sandbox patches.
        with served_actions() as actions:
            outcome = sandbox.driver(counted).rotate(arn)
        served = len(actions)
    steps = log.per_step()
    return {
        "succeeded": outcome.succeeded,
        "invocations": len(log.invocations),
        "served_by_sandbox": served,
        "steps": {
            name: {"calls": dict(step.calls), "repeated": dict(step.repeated)}
            for name, step in steps.items()
        },
    }


def scale(rotations: int, profiled: int) -> dict[str, Any]:
    """CPU per rotation over many rotations in one process, split by owner with cProfile."""
    with Sandbox(tls=True, propagation_delay=0.0) as sandbox:
        arn, handler = _prepare(sandbox)
        driver = sandbox.driver(handler)
        driver.rotate(arn)  # warm: clients built, modules imported
        sandbox.settle()
        # Profiled with the CPU clock before and after the unprofiled run: where the time goes
        # and whether any owner's share grows. cProfile slows a run down, so its fractions are
        # applied to the unprofiled CPU.
        before = _profiled_split(driver, arn, profiled)
        per_rotation: list[float] = []
        for _ in range(rotations):
            started = time.process_time()
            ok = driver.rotate(arn).succeeded
            per_rotation.append(time.process_time() - started)
            if not ok:
                raise RuntimeError("a rotation failed during the scale benchmark")
        after = _profiled_split(driver, arn, profiled)
        versions = len(sandbox.view(arn).versions)
    return {
        "rotations": rotations,
        "cpu_per_rotation": per_rotation,
        "profiled_rotations": profiled,
        "split_before": before,
        "split_after": after,
        "secret_versions_at_end": versions,
        "steps_per_rotation": len(STEPS),
    }


def _profiled_split(driver: Any, arn: str, rotations: int) -> dict[str, float]:
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    for _ in range(rotations):
        driver.rotate(arn)
    profile.disable()
    return split_self_time(pstats.Stats(profile).stats)  # type: ignore[attr-defined]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    w = sub.add_parser("waiting")
    w.add_argument("--delays", type=float, nargs="+", default=[1.0, 5.0, 30.0])
    w.add_argument("--runs", type=int, nargs="+", default=[7, 3, 1])
    c = sub.add_parser("calls")
    c.add_argument("--delay", type=float, default=1.0)
    s = sub.add_parser("scale")
    s.add_argument("--rotations", type=int, default=200)
    s.add_argument("--profiled", type=int, default=25, help="profiled rotations before and after")
    for p in (w, c, s):
        p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.what == "waiting":
        result = waiting(args.delays, args.runs)
    elif args.what == "calls":
        result = calls(args.delay)
    else:
        result = scale(args.rotations, args.profiled)
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
