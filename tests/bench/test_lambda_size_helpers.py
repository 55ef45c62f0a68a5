"""The Lambda-size benchmark's pure helpers: the children's environment, -X importtime's
lines, the libraries' figure. No timing is asserted."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.common import ROOT
from bench.import_profile import Profile, group_of, parse, report
from bench.lambda_size import Code, Results, child_command, child_env, figures


class _Fleet:
    def __init__(self) -> None:
        self.info: dict[str, Any] = {"endpoint": "http://127.0.0.1:1", "ca_bundle": "/ca.pem"}


def test_children_run_from_bytecode_in_the_runs_own_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = child_env(Code("after", None, "/cache"), None)
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPYCACHEPREFIX"] == "/cache"
    assert "AWS_ENDPOINT_URL" not in env


def test_the_before_tree_comes_first_and_the_fleet_is_reached() -> None:
    env = child_env(Code("before", "/old", "/cache"), _Fleet())  # type: ignore[arg-type]
    assert env["PYTHONPATH"].startswith("/old:")
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert env["CA_BUNDLE_PATH"] == "/ca.pem"


def test_the_before_child_imports_rotation_from_the_before_tree(tmp_path: Path) -> None:
    """Run as the benchmark runs its children (same command line, same environment, the
    repository as working directory): `rotation` must come from the --before tree."""
    old = tmp_path / "rotation"
    old.mkdir()
    (old / "__init__.py").write_text("")
    env = child_env(Code("before", str(tmp_path), str(tmp_path / "cache")), None)
    command = [*child_command()[:-2], "-c", "import rotation; print(rotation.__file__)"]

    found = subprocess.run(
        command, cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()

    assert found == str(old / "__init__.py")


STDERR = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |   typing_extensions
import time:       400 |        500 | pydantic
import time:        20 |         20 |     rotation.models
bench: first AWS call returned
import time:       999 |        999 | ssl
"""


def test_importtime_lines_stop_at_the_first_call_mark() -> None:
    lines = parse(STDERR, "bench: first AWS call returned")
    assert [(i.name, i.self_us, i.cumulative_us, i.depth) for i in lines] == [
        ("typing_extensions", 100, 100, 1),
        ("pydantic", 400, 500, 0),
        ("rotation.models", 20, 20, 2),
    ]
    assert [i.name for i in parse(STDERR)][-1] == "ssl"


def test_groups_name_the_projects_and_powertools_subpackages() -> None:
    assert group_of("rotation.adapters.memorydb") == "rotation.adapters"
    assert group_of("aws_lambda_powertools.logging.logger") == "aws_lambda_powertools.logging"
    assert group_of("aws_lambda_powertools") == "aws_lambda_powertools"
    assert group_of("pydantic._internal._fields") == "pydantic"


def test_only_what_the_floor_does_not_import_counts_above_it() -> None:
    profile = Profile(floor_seconds=[1.0], cold_seconds=[1.5], import_seconds=[0.4])
    profile.floor_modules = {"typing_extensions"}
    profile.cold_runs = [{i.name: i for i in parse(STDERR, "bench: first AWS call returned")}]
    assert profile.above_floor() == ["pydantic", "rotation.models"]
    assert profile.import_above_floor() == pytest.approx(0.00042)
    lines = list(report(profile, 10))
    assert lines[0].startswith("floor 1.00 s, cold path 1.50 s (1.50x)")
    assert "| pydantic | 0.000 s |" in lines


def test_the_libraries_bound_is_reported_beside_the_floor_not_judged() -> None:
    results = Results({128: "cgroup v1 quota 0.072 of a core"})
    results.floors[("after", 128)] = [2.0, 2.0, 2.0]
    results.libraries[128] = [2.5, 2.8, 2.6]
    (figure,) = figures(results)
    assert figure.passed is None
    assert figure.value.startswith("1.30x (2.60 s vs 2.00 s;")
