"""`make bench`: every performance figure with its target and the baseline measured in this run.

    python -m bench.run [--quick]

Prints one line per figure, `name: value (target: ..., baseline: ..., PASS/FAIL/INFO)`, then
how long the whole benchmark took. Exit status is 0 whatever the verdicts: a benchmark reports,
it is not a test (timings on a shared machine are not a CI gate). --quick runs fewer repetitions
(for trying the script, not for figures to quote); --only PREFIX runs the sections whose title
starts with PREFIX (`--only nodes`: the every-node figures, about a minute).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import artifact, coldstart, lambda_size, memory, nodes
from bench.common import ROOT, Figure, function_env
from bench.figures import (
    calls_figures,
    node_figures,
    node_rotation_figures,
    scale_figures,
    waiting_figures,
)


def _inprocess(*args: str, module: str = "bench.inprocess") -> dict[str, Any]:
    """Run `module` in a fresh process (template env, stdout discarded); its JSON."""
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        out = Path(workdir) / "result.json"
        subprocess.run(
            [sys.executable, "-m", module, *args, "--out", str(out)],
            cwd=ROOT,
            env=function_env(),
            check=True,
            stdout=subprocess.DEVNULL,  # the function's INFO logs and EMF metrics
            timeout=1800,
        )
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; not to quote")
    parser.add_argument(
        "--only", metavar="PREFIX", help="only the sections whose title starts with PREFIX"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    cold_runs = 7 if args.quick else 11
    waits = (["1", "5"], ["3", "1"]) if args.quick else (["1", "5", "30"], ["7", "3", "1"])
    rotations, profiled = ("40", "5") if args.quick else ("200", "25")

    sections: list[tuple[str, Callable[[], list[Figure]]]] = [
        (
            "cold start",
            lambda: [
                *coldstart.measure(cold_runs),
                coldstart.measure_tracing(7),
                coldstart.measure_without_bytecode(7),
            ],
        ),
        ("memory", lambda: [memory.measure()]),
        (
            "waiting",
            lambda: waiting_figures(
                _inprocess("waiting", "--delays", *waits[0], "--runs", *waits[1])
            ),
        ),
        ("calls", lambda: calls_figures(_inprocess("calls", "--delay", "1"))),
        ("artifact", lambda: [artifact.measure()]),
        (
            "nodes: proof",
            lambda: node_figures(
                _inprocess(*(["--quick"] if args.quick else []), module="bench.nodes")
            ),
        ),
        (
            "nodes: full rotation",
            lambda: node_rotation_figures(nodes.full_rotation(), nodes.full_rotation(1)),
        ),
        ("lambda size", lambda: lambda_size.section(args.quick)),
        (
            "scale",
            lambda: scale_figures(
                _inprocess("scale", "--rotations", rotations, "--profiled", profiled)
            ),
        ),
    ]
    verdicts: list[bool | None] = []
    for title, run in sections:
        if args.only and not title.startswith(args.only):
            continue
        section_started = time.monotonic()
        try:
            figures = run()
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the rest
            print(f"{title}: ERROR {type(exc).__name__}: {exc}", flush=True)
            verdicts.append(False)
            continue
        for figure in figures:
            print(figure.line(), flush=True)
            verdicts.append(figure.passed)
        print(f"  ({title} took {time.monotonic() - section_started:.0f} s)", flush=True)
    judged = [v for v in verdicts if v is not None]
    print(
        f"bench: {sum(judged)}/{len(judged)} judged figures PASS; "
        f"{'--quick run, not for quoting; ' if args.quick else ''}"
        f"make bench took {time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
