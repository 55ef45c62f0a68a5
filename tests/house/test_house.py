"""The house keeps its promises: the docs' links resolve inside the repository, nothing points
outside it, nothing deployed imports a test or tool room, `make help` knows every target the
docs tell a reader to run, and the folder markers select what they say."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", ROOT / "infra" / "README.md", *(ROOT / "docs").glob("*.md")])
# Rooms that stand beside the deployed code; `rotation/` may import none of them.
NOT_DEPLOYED = {"sandbox", "tests", "tools", "bench", "memorydb_rotation_cli", "demo"}

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^\s*```")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return lines


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, and a
    `-1`, `-2` suffix for repeats."""
    seen: dict[str, int] = {}
    result = set()
    fenced = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match is None:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(2))
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def broken_links(document: Path, root: Path = ROOT) -> list[str]:
    broken = []
    for line in _prose(document.read_text()):
        for target in _LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto: ... are not the repository's to resolve
            path_part, _, fragment = target.partition("#")
            path = (document.parent / path_part).resolve() if path_part else document
            if not path.exists() or root not in (path, *path.parents):
                broken.append(f"{target}: no such file in the repository")
            elif fragment and path.suffix == ".md" and fragment not in anchors(path.read_text()):
                broken.append(f"{target}: no heading with that anchor")
    return broken


def test_the_anchors_are_githubs() -> None:
    text = (
        "# A stale `AWSPENDING`\n## moto 5.2.5: what it does\n"
        "```\n# not a heading\n```\n## Tests\n## Tests\n"
    )

    assert anchors(text) == {"a-stale-awspending", "moto-525-what-it-does", "tests", "tests-1"}


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    document = tmp_path / "docs" / "guide.md"
    document.parent.mkdir()
    document.write_text(
        "[ok](https://example.com) [gone](missing.md) [anchor](#nowhere) [up](../../x.md)\n"
        "# Here\n[here](#here) `[code](missing.md)`\n"
    )
    (tmp_path.parent / "x.md").write_text("outside the repository")

    assert broken_links(document, root=tmp_path) == [
        "missing.md: no such file in the repository",
        "#nowhere: no heading with that anchor",
        "../../x.md: no such file in the repository",
    ]


@pytest.mark.parametrize("document", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(document: Path) -> None:
    assert broken_links(document) == []


def test_no_committed_file_points_outside_the_repository() -> None:
    outside = "../" + "shared"  # spelled in two parts so this file does not match itself
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
    ).stdout.split("\0")

    assert len(files) > 100
    mentions = [
        name
        for name in files
        if name and (ROOT / name).is_file() and outside in (ROOT / name).read_text(errors="replace")
    ]
    assert mentions == []


def test_nothing_deployed_imports_a_test_or_tool_room() -> None:
    imported: dict[str, set[str]] = {}
    for module in (ROOT / "rotation").rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                imported.setdefault(name.split(".")[0], set()).add(module.name)

    assert "rotation" in imported
    assert {room: imported[room] for room in NOT_DEPLOYED & set(imported)} == {}


def test_make_help_lists_every_target_the_docs_mention() -> None:
    mentioned = set()
    for document in DOCS:
        text = document.read_text()
        # `make x` in inline code, and `make x` opening a line of a code block
        mentioned |= set(re.findall(r"`make ([A-Za-z][\w-]*)(?=[\s`])", text))
        mentioned |= set(re.findall(r"(?m)^\s*make ([A-Za-z][\w-]*)(?=\s)", text))
    listed = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    helped = set(re.findall(r"(?m)^make (\S+)", listed))

    assert {"demo", "test", "build", "lock", "clean"} <= mentioned
    assert mentioned - helped == set()


def _deselected(marker: str, *folders: str) -> int:
    """How many tests of `folders` the marker expression deselects; fails if it selects any."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", marker, *folders],
        cwd=ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
    )
    selected = [line for line in run.stdout.splitlines() if "::" in line]
    assert selected == [], f"-m '{marker}' selects {len(selected)} in {folders}: {selected[:3]}"
    found = re.search(r"no tests collected \((\d+) deselected\)", run.stdout)
    assert found is not None, run.stdout[-500:] + run.stderr[-500:]
    return int(found.group(1))


def test_every_test_that_talks_to_moto_and_redis_is_marked_integration() -> None:
    assert _deselected("not integration", "tests/integration", "tests/reliability") > 150


def test_every_unit_test_is_marked_unit_and_none_integration() -> None:
    assert _deselected("integration or not unit", "tests/unit") > 150


def test_make_test_without_redis_server_says_to_run_system_packages() -> None:
    make = shutil.which("make")
    assert make is not None
    # No PATH: no redis-server (nor python, nor apt-get), so nothing past the check could run.
    run = subprocess.run(
        [make, "--no-print-directory", "test"],
        cwd=ROOT,
        env={"PATH": "/nonexistent"},
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )

    assert run.returncode != 0
    ours = [line for line in run.stderr.splitlines() if not line.startswith("make: ***")]
    assert ours == [
        "redis-server is not installed: run `make system-packages` (apt-get, as root or with sudo)"
    ]
    assert run.stdout == ""


def test_no_test_run_installs_system_packages() -> None:
    listed = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", "install"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        text=True,
    ).stdout

    assert "apt-get" not in listed


def test_pre_commit_runs_only_local_tools_and_ci_runs_it() -> None:
    import yaml  # type: ignore[import-untyped]

    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}

    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    assert set(hooks) == {"ruff-check", "ruff-format", "cfn-lint", "detect-secrets"}
    assert {hook["language"] for hook in hooks.values()} == {"system"}
    for hook in hooks.values():
        tool = next(word for word in hook["entry"].split() if ".venv/bin/" in word)
        assert (ROOT / tool.strip("'")).exists(), tool
    assert "--baseline" in hooks["detect-secrets"]["entry"]
    assert (ROOT / ".secrets.baseline").is_file()
    extra = subprocess.run(
        ["make", "--no-print-directory", "-p", "-n", "help"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    found = re.search(r"(?m)^TEST_EXTRA_TARGETS :?= (.*)$", extra)
    assert found is not None
    assert "pre-commit" in found.group(1).split()
