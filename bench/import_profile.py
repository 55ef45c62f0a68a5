"""Where the cold path's time above the floor goes, module by module, at Lambda's CPU share.

    python -m bench.import_profile [--memory 128] [--runs 5] [--top 30] [--before REV]

Runs bench.lambda_child's `floor` and `rotate` (one node) under `python -X importtime`, inside
the memory size's CPU cgroup (bench.cgroup), `--runs` times each. The child writes a marker to
stderr when its first AWS call returns, so only the imports of the cold path count (the later
steps' imports do not). A module counts as "above the floor" when the cold path imports it and
the floor (`import boto3` + the two clients) does not; the figures are each module's median
self and cumulative import time (means over the runs: see Profile), in wall seconds under the
quota. The children run from bytecode, as the artifact does (bench.lambda_size.Code).

What is left of the cold path once the floor and the imports above it are taken away is work
that is not an import: settings and event validation, building the service, the first call
(serialising, signing, the round trip to moto) less the floor's second client.

-X importtime adds its own small cost to every import: the totals here are a little above
bench.lambda_size's, which measures without it.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

from bench import cgroup
from bench.common import ROOT, median
from bench.lambda_child import FIRST_CALL_MARK
from bench.lambda_size import (
    Code,
    Fleet,
    bytecode_cache,
    child_command,
    child_env,
    rotate_args,
    rotation_at,
    warm_up,
)

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


@dataclass(frozen=True)
class Imported:
    name: str
    self_us: int
    cumulative_us: int
    depth: int


def parse(stderr: str, until: str | None = None) -> list[Imported]:
    """-X importtime's lines, in the order they finished, up to the line `until` if given."""
    out: list[Imported] = []
    for line in stderr.splitlines():
        if until is not None and line.strip() == until:
            break
        match = _LINE.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            out.append(Imported(name, int(self_us), int(cumulative_us), len(indent) // 2))
    return out


def group_of(module: str) -> str:
    """The project's and Powertools' modules by their sub-package; the others by package."""
    parts = module.split(".")
    if parts[0] in ("rotation", "aws_lambda_powertools") and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


@dataclass
class Profile:
    floor_seconds: list[float] = field(default_factory=list)
    cold_seconds: list[float] = field(default_factory=list)
    import_seconds: list[float] = field(default_factory=list)
    floor_modules: set[str] = field(default_factory=set)
    cold_runs: list[dict[str, Imported]] = field(default_factory=list)

    def above_floor(self) -> list[str]:
        names: dict[str, None] = {}
        for run in self.cold_runs:
            for name in run:
                if name not in self.floor_modules:
                    names[name] = None
        return list(names)

    # Means, not medians: under a CFS quota a module's time is its CPU plus whichever
    # throttled periods (100 ms each) happened to fall inside it, so one run's figure is
    # quantised; the mean over runs shares the throttling out in proportion.
    def self_seconds(self, name: str) -> float:
        return mean([run[name].self_us if name in run else 0 for run in self.cold_runs]) / 1e6

    def cumulative_seconds(self, name: str) -> float:
        return mean([run[name].cumulative_us if name in run else 0 for run in self.cold_runs]) / 1e6

    def import_above_floor(self) -> float:
        return sum(self.self_seconds(name) for name in self.above_floor())


def _run(quota: cgroup.Quota, args: Sequence[str], env: dict[str, str]) -> tuple[Any, str]:
    import json

    with tempfile.TemporaryDirectory(prefix="bench-importtime-") as workdir:
        out = Path(workdir) / "result.json"
        err = Path(workdir) / "stderr.txt"
        with err.open("w") as stderr:
            quota.run(
                child_command(*args, str(out), python_options=("-X", "importtime")),
                timeout=600,
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        return json.loads(out.read_text()), err.read_text()


def measure(memory: int, runs: int, before: str | None) -> Profile:
    hierarchy = cgroup.detect()
    cgroup.clean_stale(hierarchy)
    profile = Profile()
    with rotation_at(before) as tree, bytecode_cache() as pycache:
        code = Code("before" if before else "after", tree, pycache)
        warm_up([code], hierarchy)
        with Fleet(1) as fleet, cgroup.Quota(memory, hierarchy) as quota:
            print(f"{memory} MB: {quota.describe()}", file=sys.stderr, flush=True)
            for _ in range(runs):
                result, stderr = _run(quota, ["floor"], child_env(code, None))
                profile.floor_seconds.append(result["seconds"])
                profile.floor_modules.update(i.name for i in parse(stderr))
                result, stderr = _run(quota, rotate_args(fleet), child_env(code, fleet))
                if FIRST_CALL_MARK not in stderr:
                    raise RuntimeError("the child never marked its first AWS call")
                profile.cold_seconds.append(result["cold_seconds"])
                profile.import_seconds.append(result["import_seconds"])
                profile.cold_runs.append({i.name: i for i in parse(stderr, FIRST_CALL_MARK)})
                print(
                    f"  floor {profile.floor_seconds[-1]:.2f} s, "
                    f"cold {result['cold_seconds']:.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
    return profile


def report(profile: Profile, top: int) -> Iterable[str]:
    floor = median(profile.floor_seconds)
    cold = median(profile.cold_seconds)
    imported = profile.import_above_floor()
    handler = median(profile.import_seconds)
    yield (
        f"floor {floor:.2f} s, cold path {cold:.2f} s ({cold / floor:.2f}x), above the floor "
        f"{cold - floor:.2f} s; handler import {handler:.2f} s; runs {len(profile.cold_runs)}"
    )
    yield ""
    yield "| above the floor | seconds | share of cold - floor |"
    yield "|---|---|---|"
    above, rest = cold - floor, cold - floor - imported
    yield f"| imports the floor does not make | {imported:.2f} s | {imported / above:.0%} |"
    yield f"| the rest (not an import) | {rest:.2f} s | {rest / above:.0%} |"
    yield ""
    groups: dict[str, float] = {}
    for name in profile.above_floor():
        groups[group_of(name)] = groups.get(group_of(name), 0.0) + profile.self_seconds(name)
    yield "| package | self (sum of its modules) |"
    yield "|---|---|"
    for group, seconds in sorted(groups.items(), key=lambda kv: -kv[1])[:top]:
        yield f"| {group} | {seconds:.3f} s |"
    yield ""
    yield "| module | self | cumulative |"
    yield "|---|---|---|"
    ranked = sorted(profile.above_floor(), key=lambda n: -profile.self_seconds(n))
    for name in ranked[:top]:
        yield (
            f"| {name} | {profile.self_seconds(name):.3f} s | "
            f"{profile.cumulative_seconds(name):.3f} s |"
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memory", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--before", metavar="REV", help="profile rotation/ as at REV instead")
    args = parser.parse_args(argv)
    for line in report(measure(args.memory, args.runs, args.before), args.top):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
