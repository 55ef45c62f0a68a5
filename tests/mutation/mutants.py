"""Hand-made mutants of rotation/: does the test suite notice when a check, a wait or an order
goes missing? (`make mutants`; not a test module: pytest does not collect it.)

    python -m tests.mutation.mutants                  # unit suite, then integration for survivors
    python -m tests.mutation.mutants --suite unit     # unit suite only (about a minute)
    python -m tests.mutation.mutants --only verifier  # mutants of one area (or one id)
    python -m tests.mutation.mutants --list           # the catalogue and whether each applies

The mutants are data: tests/mutation/catalogue.toml. Each is a code pattern inside one named
function (`Rotator._guard`, `wait_until_active`), never a line number, so it survives edits
elsewhere in the file. A pattern that no longer matches exactly once in its function is STALE
(the code it described has changed: re-aim or delete the entry); tests/mutation/test_catalogue.py
fails on a stale entry in every `make test`, and `--strict` makes stale mutants fail a run.
Whitespace in a pattern matches any run of whitespace, so reformatting does not make a mutant
stale.

Every mutant runs in a private copy of the repository (tracked files only, no bytecode written),
so the working tree is never edited and workers run in parallel. A mutant is KILLED when the suite
fails or hangs past the timeout, SURVIVED when it passes. A survivor with an `equivalent` reason
is listed apart: the reason says why no test can tell it from the original.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE_PATH = Path(__file__).with_name("catalogue.toml")
PYTHON = sys.executable

SUITES: dict[str, tuple[str, ...]] = {
    "unit": ("tests/unit",),
    # The hostile-input table runs on the sandbox too, and some of its rows (the racing claims,
    # a node without an endpoint) are the proof a mutant of those checks meets first.
    "integration": ("tests/integration", "tests/reliability/test_bad_input.py"),
}


@dataclass(frozen=True)
class Mutant:
    id: str
    area: str
    path: str
    function: str
    """Qualified name of the function the pattern lives in: `Class.method` or `function`."""
    find: str
    replace: str
    what: str
    equivalent: str = ""
    """Why no test can tell this mutant from the original (empty: it must be killed)."""


class CatalogueError(ValueError):
    """The catalogue file itself is wrong (not a stale pattern: a missing or unknown key)."""


def load_catalogue(path: Path = CATALOGUE_PATH) -> tuple[Mutant, ...]:
    """The mutants of `path` (TOML, one [[mutant]] table each), in file order."""
    try:
        entries = tomllib.loads(path.read_text())["mutant"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise CatalogueError(f"{path.name}: no [[mutant]] entries could be read: {exc}") from exc
    required = {"id", "area", "path", "function", "find", "replace", "what"}
    known = required | {"equivalent"}
    mutants: list[Mutant] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, 1):
        name = f"{path.name}, mutant {number} ({entry.get('id', 'no id')})"
        missing, unknown = required - entry.keys(), entry.keys() - known
        if missing or unknown:
            raise CatalogueError(
                f"{name}: missing {sorted(missing) or 'nothing'}, "
                f"unknown {sorted(unknown) or 'nothing'}"
            )
        if not all(isinstance(value, str) for value in entry.values()):
            raise CatalogueError(f"{name}: every value is a string")
        if entry["id"] in seen:
            raise CatalogueError(f"{name}: the id is used twice")
        seen.add(entry["id"])
        mutants.append(Mutant(**entry))
    return tuple(mutants)


CATALOGUE = load_catalogue()


@dataclass
class Applied:
    mutant: Mutant
    source: str = ""
    problem: str = ""


@dataclass
class Result:
    mutant: Mutant
    status: str
    """killed, survived, stale, timeout or flaky (killed only by a test that passes alone)."""
    detail: str = ""
    seconds: float = 0.0
    suites: list[str] = field(default_factory=list)


def _function_span(tree: ast.Module, qualname: str) -> tuple[int, int] | None:
    parts = qualname.split(".")
    body: Sequence[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in parts:
        node = next(
            (
                n
                for n in body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and n.name == part
            ),
            None,
        )
        if node is None:
            return None
        body = node.body
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return first, node.end_lineno or node.lineno


def _pattern(find: str) -> re.Pattern[str]:
    pieces = [re.escape(piece) for piece in re.split(r"\s+", find.strip())]
    return re.compile(r"\s+".join(pieces))


def _indented(replace: str, indent: str) -> str:
    lines = replace.split("\n")
    return "\n".join([lines[0], *(indent + line for line in lines[1:])])


def apply(mutant: Mutant) -> Applied:
    """The file's text with the mutant in it, or why the mutant no longer applies."""
    path = ROOT / mutant.path
    if not path.exists():
        return Applied(mutant, problem=f"{mutant.path} does not exist")
    text = path.read_text()
    span = _function_span(ast.parse(text), mutant.function)
    if span is None:
        return Applied(mutant, problem=f"no function {mutant.function} in {mutant.path}")
    lines = text.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: span[0] - 1])
    end = sum(len(line) for line in lines[: span[1]])
    body = text[start:end]
    matches = list(_pattern(mutant.find).finditer(body))
    if len(matches) != 1:
        return Applied(
            mutant,
            problem=f"pattern found {len(matches)} times in {mutant.function} (expected once)",
        )
    match = matches[0]
    line_start = body.rfind("\n", 0, match.start()) + 1
    rest = body[line_start:]
    indent = rest[: len(rest) - len(rest.lstrip(" \t"))]
    mutated = body[: match.start()] + _indented(mutant.replace, indent) + body[match.end() :]
    source = text[:start] + mutated + text[end:]
    try:
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        return Applied(mutant, problem=f"the mutated file does not compile: {exc.msg}")
    if source == text:
        return Applied(mutant, problem="the replacement changes nothing")
    return Applied(mutant, source=source)


def _set_root(root: Path) -> None:
    global ROOT  # noqa: PLW0603 - one checkout per run, chosen on the command line
    ROOT = root


def _copy_tree(destination: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _run_suite(copy: Path, suite: str, timeout: float, *, node: bool = False) -> tuple[str, str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    targets = [suite] if node else list(SUITES[suite])
    command = [PYTHON, "-m", "pytest", *targets, "-x", "-q", "-p", "no:cacheprovider"]
    command += ["--no-header", "-o", "addopts=", "-p", "no:randomly"]
    try:
        run = subprocess.run(
            command, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return "timeout", f"{suite} suite ran past {timeout:.0f}s"
    if run.returncode == 0:
        return "survived", ""
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", run.stdout, flags=re.MULTILINE)
    return "killed", failed[0] if failed else f"{suite} suite exited {run.returncode}"


class Worker:
    """A private copy of the repository; one mutant at a time is written into it."""

    def __init__(self, base: Path, index: int) -> None:
        self.copy = base / f"worker-{index}"
        _copy_tree(self.copy)

    def run(self, applied: Applied, suites: Sequence[str], timeout: float) -> Result:
        target = self.copy / applied.mutant.path
        original = target.read_text()
        started = time.monotonic()
        target.write_text(applied.source)
        try:
            status, detail, ran = "survived", "", []
            for suite in suites:
                ran.append(suite)
                status, detail = _run_suite(self.copy, suite, timeout)
                if status != "survived":
                    break
            if status == "killed" and "::" in detail:
                # A test that fails only in the whole run (timing under load) did not kill it.
                again, _ = _run_suite(self.copy, detail, timeout, node=True)
                if again == "survived":
                    status, detail = "flaky", f"{detail} failed in the suite, passed alone"
        finally:
            target.write_text(original)
        return Result(applied.mutant, status, detail, time.monotonic() - started, ran)


def _select(only: Sequence[str]) -> list[Mutant]:
    if not only:
        return list(CATALOGUE)
    chosen = [mu for mu in CATALOGUE if mu.area in only or mu.id in only]
    if not chosen:
        raise SystemExit(f"no mutant or area named {', '.join(only)}")
    return chosen


def run(mutants: Iterable[Mutant], suite_plan: Sequence[str], jobs: int) -> list[Result]:
    applied = [apply(mu) for mu in mutants]
    results = [Result(a.mutant, "stale", a.problem) for a in applied if a.problem]
    runnable = [a for a in applied if not a.problem]
    with tempfile.TemporaryDirectory(prefix="mutants-") as scratch:
        workers = [Worker(Path(scratch), i) for i in range(max(1, min(jobs, len(runnable))))]
        for suite in suite_plan:
            status, detail = _run_suite(workers[0].copy, suite, timeout=1800)
            if status != "survived":
                raise SystemExit(f"the {suite} suite fails without mutants: {detail}")
        pending = list(runnable)
        with concurrent.futures.ThreadPoolExecutor(len(workers)) as pool:
            free = list(workers)
            futures: dict[concurrent.futures.Future[Result], Worker] = {}
            while pending or futures:
                while pending and free:
                    worker = free.pop()
                    item = pending.pop(0)
                    timeout = 60.0 if suite_plan == ["unit"] else 600.0
                    futures[pool.submit(worker.run, item, suite_plan, timeout)] = worker
                done, _ = concurrent.futures.wait(
                    futures, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in done:
                    free.append(futures.pop(future))
                    result = future.result()
                    results.append(result)
                    print(_line(result), flush=True)
    order = {mu.id: i for i, mu in enumerate(CATALOGUE)}
    return sorted(results, key=lambda r: order[r.mutant.id])


def _line(result: Result) -> str:
    mu = result.mutant
    status = result.status.upper()
    if result.status == "survived" and mu.equivalent:
        status = "EQUIVALENT"
    where = f" by {result.detail}" if result.status == "killed" else ""
    return f"{status:<10} {mu.id:<32} {mu.area:<12} {mu.what}{where}"


def report(results: Sequence[Result], seconds: float) -> str:
    counted = [r for r in results if r.status not in ("stale", "flaky")]
    killed = [r for r in counted if r.status in ("killed", "timeout")]
    survived = [r for r in counted if r.status == "survived" and not r.mutant.equivalent]
    equivalent = [r for r in counted if r.status == "survived" and r.mutant.equivalent]
    stale = [r for r in results if r.status == "stale"]
    flaky = [r for r in results if r.status == "flaky"]
    out = [
        "",
        "| area | mutants | killed | survived | equivalent |",
        "| --- | --- | --- | --- | --- |",
    ]
    for area in dict.fromkeys(r.mutant.area for r in counted):
        mine = [r for r in counted if r.mutant.area == area]
        out.append(
            f"| {area} | {len(mine)} | "
            f"{sum(r in killed for r in mine)} | {sum(r in survived for r in mine)} | "
            f"{sum(r in equivalent for r in mine)} |"
        )
    rate = len(killed) / len(counted) if counted else 0.0
    scored = len(counted) - len(equivalent)
    rate_scored = len(killed) / scored if scored else 0.0
    out += [
        "",
        f"mutants {len(counted)}, killed {len(killed)}, survived {len(survived)}, "
        f"equivalent {len(equivalent)}, stale {len(stale)}, flaky {len(flaky)}; "
        f"kill rate {rate:.0%} "
        f"({rate_scored:.0%} of the non-equivalent) in {seconds:.0f}s",
    ]
    for title, group in (
        ("survived", survived),
        ("equivalent", equivalent),
        ("stale", stale),
        ("flaky", flaky),
    ):
        if group:
            out.append(f"\n{title}:")
            for r in group:
                reason = r.mutant.equivalent if title == "equivalent" else r.detail
                out.append(f"  {r.mutant.id} ({r.mutant.function}): {r.mutant.what}. {reason}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument(
        "--suite",
        choices=("unit", "unit+integration", "integration"),
        default="unit+integration",
        help="unit+integration runs integration only for the unit suite's survivors",
    )
    parser.add_argument("--only", nargs="*", default=[], help="areas or mutant ids")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--list", action="store_true", help="the catalogue, without running")
    parser.add_argument("--strict", action="store_true", help="stale mutants fail the run")
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="another checkout (a git work tree) to mutate"
    )
    parser.add_argument(
        "--integration",
        nargs="+",
        default=list(SUITES["integration"]),
        metavar="PATH",
        help="test files or folders that make the integration suite (default: tests/integration "
        "and the hostile-input table)",
    )
    args = parser.parse_args(argv)
    SUITES["integration"] = tuple(args.integration)
    _set_root(args.root.resolve())
    # A terminated run still removes its copies of the repository.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    mutants = _select(args.only)
    if args.list:
        for mu in mutants:
            problem = apply(mu).problem
            print(f"{'STALE' if problem else 'ok':<6} {mu.id:<32} {mu.function:<36} {problem}")
        return 0
    started = time.monotonic()
    if args.suite == "unit+integration":
        results = run(mutants, ["unit"], args.jobs)
        survivors = [r.mutant for r in results if r.status in ("survived", "flaky")]
        if survivors:
            against = " and ".join(SUITES["integration"])
            print(f"\n{len(survivors)} unit survivors against {against}:", flush=True)
            again = {r.mutant.id: r for r in run(survivors, ["integration"], args.jobs)}
            results = [again.get(r.mutant.id, r) for r in results]
    else:
        results = run(mutants, [args.suite], args.jobs)
    print(report(results, time.monotonic() - started))
    stale = any(r.status == "stale" for r in results)
    return 1 if args.strict and stale else 0


if __name__ == "__main__":
    sys.exit(main())
