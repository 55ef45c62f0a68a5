"""A Lambda-sized CPU share for one process: a CPU cgroup holding only the function's process.

Lambda gives a function CPU in proportion to its memory: 1,769 MB is one vCPU (documented: "At
1,769 MB, a function has the equivalent of one vCPU", Lambda developer guide, "Configuring
memory"). A share of `MB / 1769` of one core is a CFS quota of `100000 * MB / 1769` microseconds
per 100 ms period.

- cgroup v1 (a `cpu` hierarchy at /sys/fs/cgroup/cpu): `cpu.cfs_period_us`, `cpu.cfs_quota_us`.
- cgroup v2 (a unified hierarchy with the `cpu` controller): `cpu.max` = "quota period".
- neither writable (not root, a container without cgroup access): a full core, and `describe()`
  says so in every figure's line.

Only the command given to `Quota.run` goes in, through a `sh -c 'echo $$ > cgroup.procs; exec
...'` wrapper, so the interpreter is inside from its first instruction and moto, the TLS servers
and the benchmark itself stay outside. Every cgroup made here is removed when its run ends (also
on failure); `clean_stale()` removes the ones earlier runs left behind when their owner is gone.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ONE_VCPU_MB = 1769
PERIOD_US = 100_000
PREFIX = "memorydb-rotation-bench-"
V1_ROOT = Path("/sys/fs/cgroup/cpu")
V2_ROOT = Path("/sys/fs/cgroup")


def quota_us(memory_mb: int) -> int:
    """The CFS quota per PERIOD_US for a function of `memory_mb` (at most one core: the
    function's Python runs on one thread at a time, so a larger share buys it nothing here)."""
    return min(PERIOD_US, int(PERIOD_US * memory_mb / ONE_VCPU_MB))


@dataclass(frozen=True)
class Hierarchy:
    kind: str
    """'v1', 'v2' or 'none'."""
    root: Path
    why_not: str = ""

    @property
    def usable(self) -> bool:
        return self.kind != "none"


def detect(v1_root: Path = V1_ROOT, v2_root: Path = V2_ROOT) -> Hierarchy:
    """The CPU hierarchy this process may create cgroups in, or why there is none."""
    if (v1_root / "cpu.cfs_quota_us").exists():
        if os.access(v1_root, os.W_OK):
            return Hierarchy("v1", v1_root)
        return Hierarchy("none", v1_root, f"{v1_root} is not writable (not root?)")
    controllers = v2_root / "cgroup.controllers"
    if controllers.exists():
        if "cpu" not in controllers.read_text().split():
            return Hierarchy("none", v2_root, "cgroup v2 without the cpu controller")
        if os.access(v2_root, os.W_OK):
            return Hierarchy("v2", v2_root)
        return Hierarchy("none", v2_root, f"{v2_root} is not writable (not root?)")
    return Hierarchy("none", v1_root, "no cgroup CPU controller mounted")


def _owner_alive(name: str) -> bool:
    pid_text = name.removeprefix(PREFIX).split("-", 1)[0]
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(hierarchy: Hierarchy) -> list[str]:
    """Remove the cgroups of earlier runs whose benchmark process is gone; their names.

    A stale cgroup that still holds a process (an orphaned child) gets that process moved to the
    root first: it is no longer measured by anyone."""
    removed: list[str] = []
    if not hierarchy.usable:
        return removed
    for path in sorted(hierarchy.root.glob(PREFIX + "*")):
        if not path.is_dir() or _owner_alive(path.name):
            continue
        with contextlib.suppress(OSError):
            for pid in (path / "cgroup.procs").read_text().split():
                (hierarchy.root / "cgroup.procs").write_text(pid)
        with contextlib.suppress(OSError):
            path.rmdir()
            removed.append(path.name)
    return removed


class Quota:
    """A CPU cgroup of `memory_mb`'s share; `run` a command inside it; removed on exit."""

    def __init__(self, memory_mb: int, hierarchy: Hierarchy) -> None:
        self.memory_mb = memory_mb
        self.hierarchy = hierarchy
        self.path: Path | None = None

    def describe(self) -> str:
        share = quota_us(self.memory_mb) / PERIOD_US
        if not self.hierarchy.usable:
            return f"FULL CORE, no quota ({self.hierarchy.why_not})"
        return f"cgroup {self.hierarchy.kind} quota {share:.3f} of a core"

    def __enter__(self) -> Quota:
        if not self.hierarchy.usable:
            return self
        name = f"{PREFIX}{os.getpid()}-{self.memory_mb}mb-{time.monotonic_ns()}"
        path = self.hierarchy.root / name
        path.mkdir()
        self.path = path
        try:
            if self.hierarchy.kind == "v1":
                (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (path / "cpu.cfs_quota_us").write_text(str(quota_us(self.memory_mb)))
            else:
                (path / "cpu.max").write_text(f"{quota_us(self.memory_mb)} {PERIOD_US}")
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._remove()

    def _remove(self) -> None:
        if self.path is None:
            return
        path, self.path = self.path, None
        # A child that outlived its run (killed on timeout leaves none; a grandchild might).
        with contextlib.suppress(OSError):
            for pid in (path / "cgroup.procs").read_text().split():
                (self.hierarchy.root / "cgroup.procs").write_text(pid)
        for _ in range(50):
            try:
                path.rmdir()
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)  # the exiting process is still being reaped by the kernel
            else:
                return
        raise RuntimeError(f"could not remove cgroup {path}")

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` wrapped so it enters this cgroup before it starts."""
        if self.path is None:
            return list(argv)
        procs = shlex.quote(str(self.path / "cgroup.procs"))
        return ["sh", "-c", f"echo $$ > {procs} && exec {shlex.join(argv)}"]

    def run(
        self, argv: Sequence[str], *, timeout: float, **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # type: ignore[call-overload,no-any-return]
            self.command(argv), timeout=timeout, check=True, text=True, **kwargs
        )


@contextlib.contextmanager
def quota(memory_mb: int, hierarchy: Hierarchy | None = None) -> Iterator[Quota]:
    with Quota(memory_mb, hierarchy or detect()) as made:
        yield made
