"""The function at Lambda's CPU share: cold path, floor, and rotations of 1 to 1,500 nodes.

    python -m bench.lambda_size [--memory 128 512 1769] [--nodes 1 60] [--scale 500 1500]
                                [--runs 3] [--before REV] [--json FILE]

For each memory size, inside a CPU cgroup of that size's share (bench.cgroup; only the
function's process, bench.lambda_child, is inside; moto, the TLS servers and the proxy are not):

- floor: `import boto3` + the function's two clients, median of `--runs` fresh processes;
- libraries: the floor + the imports of pydantic and Powertools (the least any cold path that
  validates with pydantic and logs with Powertools before its first AWS call can take);
- cold path: import rotation.handler + createSecret's invocation until its first AWS call
  returns, median of `--runs` (each a fresh process that then runs a whole rotation);
- rotation: the four steps' wall time on a cluster of N nodes (bench.lambda_aws: N nodes over
  at most 20 real TLS redis-servers through a forwarding proxy), the TLS connections the servers
  accepted per node, and each step's time against the 600 s wait cap and Lambda's 900 s timeout.
  `--scale` node counts run once each, at 128 and 512 MB only.

`--before REV` runs the same figures against `rotation/` as it is at git revision REV (extracted
to a temporary directory that comes first on PYTHONPATH), in the same run, alternating with the
working tree per sample so drift of the machine hits both alike.

Every child runs from bytecode, as the artifact does (see Code), after one unmeasured warm-up
of each kind has written that bytecode.

Prints the memory x nodes table and one figure line per target; exit status 0 whatever the
verdicts (a benchmark reports; it is not a test).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import cgroup
from bench.common import ROOT, Figure, function_env, median
from bench.memory import FAKE_CREDENTIALS

COLD_TARGET = 1.3
HANDSHAKES_PER_NODE_TARGET = 4
WAIT_CAP_SECONDS = 600.0
LAMBDA_TIMEOUT_SECONDS = 900.0
FLAT_TARGET = 1.25
"""Per-node cost at the largest scale over that at the next one: 'flat' allows this much noise."""
MAX_SERVERS = 20


class Fleet:
    """bench.lambda_aws in a subprocess, for one node count."""

    def __init__(self, nodes: int) -> None:
        self.nodes = nodes
        self.info: dict[str, Any] = {}
        self._process: subprocess.Popen[str] | None = None
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in __exit__

    def __enter__(self) -> Fleet:
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.lambda_aws",
                "--nodes",
                str(self.nodes),
                "--servers",
                str(MAX_SERVERS),
            ],
            cwd=ROOT,
            env=function_env(),
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line:
            self._process.wait(timeout=30)
            self._log.seek(0)
            raise RuntimeError("bench.lambda_aws exited early:\n" + self._log.read()[-2000:])
        self.info = json.loads(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is None:
            return
        try:
            with socket.create_connection(("127.0.0.1", self.info["control_port"]), 5) as sock:
                sock.sendall(b'{"op": "quit"}\n')
                sock.recv(100)
            self._process.wait(timeout=30)
        except (OSError, KeyError, subprocess.TimeoutExpired):
            self._process.terminate()
            self._process.wait(timeout=10)
        finally:
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._log.close()


@contextlib.contextmanager
def rotation_at(rev: str | None) -> Iterator[str | None]:
    """A directory holding `rotation/` as at git revision `rev` (None: the working tree)."""
    if rev is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="bench-before-") as workdir:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", rev, "rotation"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        ).stdout
        tar_path = Path(workdir) / "rotation.tar"
        tar_path.write_bytes(archive)
        with tarfile.open(tar_path) as tar:
            tar.extractall(workdir, filter="data")
        tar_path.unlink()
        yield workdir


@dataclass(frozen=True)
class Code:
    """One version of `rotation/` to measure, and where its children keep their bytecode."""

    name: str
    """'before' or 'after'."""
    tree: str | None
    """The directory holding `rotation/` as at --before (None: the working tree)."""
    pycache: str
    """PYTHONPYCACHEPREFIX of its children: the artifact ships bytecode (mk/deploy.mk compiles
    it with the Lambda's Python), so the children run from bytecode too. The dev venv has no
    `__pycache__` when PYTHONDONTWRITEBYTECODE is set, and without this every child would
    compile boto3, pydantic and Powertools from source, which Lambda does not."""


@contextlib.contextmanager
def bytecode_cache() -> Iterator[str]:
    """A directory for the children's bytecode, removed after the run."""
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as directory:
        yield directory


def child_env(code: Code, fleet: Fleet | None) -> dict[str, str]:
    extra: dict[str, str] = {**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}
    extra["AWS_REGION"] = "us-east-1"
    if fleet is not None:
        extra["AWS_ENDPOINT_URL"] = fleet.info["endpoint"]
        extra["CA_BUNDLE_PATH"] = fleet.info["ca_bundle"]
    env = function_env(None, **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = code.pycache
    env["PYTHONPATH"] = f"{code.tree}:{ROOT}" if code.tree is not None else str(ROOT)
    return env


def child_command(*args: str, python_options: Sequence[str] = ()) -> list[str]:
    """`python -P -m bench.lambda_child ARGS`. -P: `-m` would otherwise put the working
    directory (the repository, with today's `rotation/`) first on sys.path, ahead of the
    --before tree on PYTHONPATH, and "before" would measure today's code."""
    return [sys.executable, *python_options, "-P", "-m", "bench.lambda_child", *args]


def run_child(
    quota: cgroup.Quota, args: Sequence[str], code: Code, fleet: Fleet | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-lambda-") as workdir:
        out = Path(workdir) / "result.json"
        quota.run(
            child_command(*args, str(out)),
            timeout=3 * LAMBDA_TIMEOUT_SECONDS,
            cwd=ROOT,
            env=child_env(code, fleet),
            stdout=subprocess.DEVNULL,  # the function's INFO logs and EMF metrics
        )
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def rotate_args(fleet: Fleet) -> list[str]:
    return ["rotate", str(fleet.info["control_port"]), fleet.info["secret_arn"]]


def warm_up(codes: Sequence[Code], hierarchy: cgroup.Hierarchy) -> None:
    """One unmeasured floor and one unmeasured rotation of each code, at a full core: they
    write the bytecode of everything the children import (the first call's lazy imports too)
    and fill the page cache, as the cold-start benchmark's warm-up does."""
    full_core = cgroup.Quota(
        cgroup.ONE_VCPU_MB, cgroup.Hierarchy("none", hierarchy.root, "warm-up")
    )
    with Fleet(1) as fleet:
        for code in codes:
            run_child(full_core, ["floor"], code, None)
            run_child(full_core, rotate_args(fleet), code, fleet)


@dataclass
class Cell:
    """Samples for one (code, memory, nodes)."""

    rotations: list[dict[str, Any]] = field(default_factory=list)

    def rotation_seconds(self) -> float:
        return median([sum(s["seconds"] for s in r["steps"].values()) for r in self.rotations])

    def cold_seconds(self) -> float:
        return median([r["cold_seconds"] for r in self.rotations])

    def step_seconds(self, step: str) -> float:
        return median([r["steps"][step]["seconds"] for r in self.rotations if step in r["steps"]])

    def connections(self) -> int:
        totals = [sum(s["connections"] for s in r["steps"].values()) for r in self.rotations]
        return int(median(totals))

    def ok(self) -> bool:
        return all(r["succeeded"] for r in self.rotations)

    def failures(self) -> list[str]:
        return [
            f"{name}: {step['error']}"
            for r in self.rotations
            for name, step in r["steps"].items()
            if step["error"]
        ]


@dataclass
class Results:
    quotas: dict[int, str]
    floors: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    libraries: dict[int, list[float]] = field(default_factory=dict)
    """The floor plus the imports of pydantic and Powertools (bench.lambda_child `libraries`)."""
    cells: dict[tuple[str, int, int], Cell] = field(default_factory=dict)

    def cell(self, code: str, memory: int, nodes: int) -> Cell:
        return self.cells.setdefault((code, memory, nodes), Cell())

    def as_json(self) -> dict[str, Any]:
        return {
            "quotas": self.quotas,
            "floors": {f"{c}/{m}": v for (c, m), v in self.floors.items()},
            "libraries": {str(m): v for m, v in self.libraries.items()},
            "cells": {f"{c}/{m}/{n}": cell.rotations for (c, m, n), cell in self.cells.items()},
        }


def measure(
    memories: Sequence[int],
    node_counts: Sequence[int],
    scale_counts: Sequence[int],
    runs: int,
    before: str | None,
) -> Results:
    hierarchy = cgroup.detect()
    removed = cgroup.clean_stale(hierarchy)
    if removed:
        print(f"removed {len(removed)} stale benchmark cgroups", flush=True)
    results = Results({m: cgroup.Quota(m, hierarchy).describe() for m in memories})
    with rotation_at(before) as old_tree, bytecode_cache() as pycache:
        codes = [Code("after", None, pycache)]
        if before is not None:
            codes.insert(0, Code("before", old_tree, pycache))
        warm_up(codes, hierarchy)
        for memory in memories:
            with cgroup.Quota(memory, hierarchy) as quota:
                print(f"{memory} MB: {quota.describe()}", flush=True)
                for i in range(runs):
                    for code in codes if i % 2 == 0 else codes[::-1]:
                        sample = run_child(quota, ["floor"], code, None)
                        results.floors.setdefault((code.name, memory), []).append(sample["seconds"])
                    # The libraries' bound does not depend on rotation/: measured once a run.
                    sample = run_child(quota, ["libraries"], codes[-1], None)
                    results.libraries.setdefault(memory, []).append(sample["seconds"])
        for nodes in [*node_counts, *scale_counts]:
            scale = nodes in scale_counts and nodes not in node_counts
            with Fleet(nodes) as fleet:
                for memory in memories:
                    if scale and memory not in (128, 512):
                        continue
                    with cgroup.Quota(memory, hierarchy) as quota:
                        for i in range(1 if scale else runs):
                            for code in codes if i % 2 == 0 else codes[::-1]:
                                if scale and code.name == "before":
                                    continue
                                sample = run_child(quota, rotate_args(fleet), code, fleet)
                                results.cell(code.name, memory, nodes).rotations.append(sample)
                                total = sum(s["seconds"] for s in sample["steps"].values())
                                print(
                                    f"  {code.name} {memory} MB {nodes} nodes: "
                                    f"rotation {total:.2f} s, "
                                    f"cold {sample['cold_seconds']:.2f} s, "
                                    f"{'ok' if sample['succeeded'] else 'FAILED'}",
                                    flush=True,
                                )
    return results


def gb_seconds(memory: int, seconds: float) -> float:
    return memory / 1024 * seconds


def table(results: Results) -> list[str]:
    """memory x nodes: rotation seconds (GB-s), cold path and floor, per code."""
    lines = []
    node_counts = sorted({n for (_c, _m, n) in results.cells})
    memories = sorted({m for (_c, m, _n) in results.cells})
    codes = [c for c in ("before", "after") if any(k[0] == c for k in results.cells)]
    header = "| code | memory | floor | cold path | " + " | ".join(
        f"{n} node{'s' if n > 1 else ''}" for n in node_counts
    )
    lines.append(header + " |")
    lines.append("|" + "---|" * (4 + len(node_counts)))
    for code in codes:
        for memory in memories:
            floor = results.floors.get((code, memory))
            first = results.cells.get((code, memory, node_counts[0]))
            row = [
                code,
                f"{memory} MB",
                f"{median(floor):.2f} s" if floor else "-",
                f"{first.cold_seconds():.2f} s" if first and first.rotations else "-",
            ]
            for nodes in node_counts:
                cell = results.cells.get((code, memory, nodes))
                if cell is None or not cell.rotations:
                    row.append("-")
                    continue
                seconds = cell.rotation_seconds()
                row.append(
                    f"{seconds:.1f} s ({gb_seconds(memory, seconds):.2f} GB-s)"
                    + ("" if cell.ok() else " FAILED")
                )
            lines.append("| " + " | ".join(row) + " |")
    return lines


def figures(results: Results) -> list[Figure]:
    out: list[Figure] = []
    for memory, samples in sorted(results.libraries.items()):
        floors = results.floors.get(("after", memory))
        if not floors:
            continue
        floor, bound = median(floors), median(samples)
        out.append(
            Figure(
                f"lambda {memory} MB: floor + pydantic + Powertools imports / floor",
                f"{bound / floor:.2f}x ({bound:.2f} s vs {floor:.2f} s; {results.quotas[memory]})",
                f"reported beside the cold path's {COLD_TARGET}x",
                "the least a cold path that loads both before its first AWS call can take",
                None,
            )
        )
    for (code, memory), floor_samples in sorted(results.floors.items()):
        cells = sorted(
            (n, c) for (c_code, m, n), c in results.cells.items() if c_code == code and m == memory
        )
        if not cells:
            continue
        floor = median(floor_samples)
        cold = median([r["cold_seconds"] for _n, c in cells for r in c.rotations])
        ratio = cold / floor
        out.append(
            Figure(
                f"lambda {memory} MB ({code}): cold path / floor",
                f"{ratio:.2f}x ({cold:.2f} s vs {floor:.2f} s; {results.quotas[memory]})",
                f"<= {COLD_TARGET}x",
                "import boto3 + 2 clients, same quota, same run",
                ratio <= COLD_TARGET,
            )
        )
    for (code, memory, nodes), cell in sorted(results.cells.items()):
        if not cell.rotations:
            continue
        per_node = cell.connections() / nodes
        out.append(
            Figure(
                f"lambda {memory} MB ({code}): TLS handshakes per node, {nodes} nodes",
                f"{per_node:.2f} ({cell.connections()} connections)"
                + ("" if cell.ok() else f"; FAILED {cell.failures()[:2]}"),
                f"<= {HANDSHAKES_PER_NODE_TARGET}",
                "the servers' total_connections_received over the rotation",
                per_node <= HANDSHAKES_PER_NODE_TARGET and cell.ok(),
            )
        )
        if nodes >= 500 or (nodes == max(n for (_c, _m, n) in results.cells) and code == "after"):
            worst_step = max(cell.rotations[0]["steps"].items(), key=lambda kv: kv[1]["seconds"])
            total = cell.rotation_seconds()
            out.append(
                Figure(
                    f"lambda {memory} MB ({code}): heaviest step, {nodes} nodes",
                    f"{worst_step[0]} {worst_step[1]['seconds']:.1f} s "
                    f"({worst_step[1]['seconds'] / WAIT_CAP_SECONDS:.2f}x the wait cap, "
                    f"{worst_step[1]['seconds'] / LAMBDA_TIMEOUT_SECONDS:.2f}x the timeout); "
                    f"whole rotation {total:.1f} s, {gb_seconds(memory, total):.1f} GB-s",
                    f"< {WAIT_CAP_SECONDS:.0f} s wait cap and {LAMBDA_TIMEOUT_SECONDS:.0f} s "
                    "Lambda timeout",
                    "the step's wait cap (WAIT_TIMEOUT_SECONDS default)",
                    worst_step[1]["seconds"] < WAIT_CAP_SECONDS and cell.ok(),
                )
            )
    for code in ("before", "after"):
        for memory in sorted({m for (_c, m, _n) in results.cells}):
            sized = sorted(
                (n, c.rotation_seconds())
                for (c_code, m, n), c in results.cells.items()
                if c_code == code and m == memory and c.rotations and n > 1
            )
            if len(sized) < 2:
                continue
            # Marginal seconds per node between consecutive sizes: flat if the last is no more
            # than FLAT_TARGET times the first.
            marginal = [
                (b_s - a_s) / (b_n - a_n) for (a_n, a_s), (b_n, b_s) in itertools.pairwise(sized)
            ]
            growth = marginal[-1] / marginal[0] if marginal[0] > 0 else float("inf")
            detail = ", ".join(
                f"{a_n}->{b_n}: {m * 1000:.1f} ms"
                for ((a_n, _a), (b_n, _b)), m in zip(
                    itertools.pairwise(sized), marginal, strict=True
                )
            )
            out.append(
                Figure(
                    f"lambda {memory} MB ({code}): cost per added node",
                    f"{growth:.2f}x last/first ({detail})",
                    f"<= {FLAT_TARGET}x (flat)",
                    "the first interval's seconds per added node, same run",
                    growth <= FLAT_TARGET if len(marginal) > 1 else None,
                )
            )
    return out


def section(quick: bool) -> list[Figure]:
    """bench.run's "lambda size" section: prints the table, returns the figures."""
    results = measure(
        [128, 512, 1769], [1, 60], [] if quick else [500, 1500], 1 if quick else 3, None
    )
    for line in table(results):
        print(line, flush=True)
    return figures(results)


def _exit_on_term(_signum: int, _frame: object) -> None:
    # SystemExit unwinds the `with` blocks: the cgroup and the servers are removed.
    sys.exit(143)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _exit_on_term)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memory", type=int, nargs="+", default=[128, 512, 1769])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 60])
    parser.add_argument("--scale", type=int, nargs="*", default=[500, 1500])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", metavar="REV", help="also measure rotation/ as at REV")
    parser.add_argument("--json", metavar="FILE", help="write every sample here")
    args = parser.parse_args(argv)
    results = measure(args.memory, args.nodes, args.scale, args.runs, args.before)
    if args.json:
        Path(args.json).write_text(json.dumps(results.as_json(), indent=1))
    for line in table(results):
        print(line)
    for figure in figures(results):
        print(figure.line())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
