"""Helpers and pytest options shared by every test family."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sandbox.topology import installed_engines

TESTS = Path(__file__).resolve().parent
EVENTS = TESTS.parent / "events"
# Every folder under tests/ and the markers its tests carry (registered in pyproject.toml), so
# `-m integration` selects every test that talks to a real redis-server and moto. pytest ignores
# `pytestmark` in a conftest, so the folders are marked here.
FOLDER_MARKERS: dict[str, tuple[str, ...]] = {
    "unit": ("unit",),
    "integration": ("integration",),
    "reliability": ("reliability", "integration"),
    "cli": ("cli",),
    "template": ("template",),
    "bench": ("bench",),
    "mutation": ("mutation",),
    "house": ("house",),
    "docs": ("docs",),
    "e2e": ("e2e", "integration"),
}
# Unit tests have no network: pytest-socket refuses every socket they open (AF_UNIX included).
NO_NETWORK = ("unit",)


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/, as `sam local invoke -e` would send it."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


# -- the sandbox's engine (redis-server or valkey-server) -----------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--sandbox-engine",
        choices=["redis", "valkey", "installed"],
        default=None,
        help="engine of every sandbox node (default: $SANDBOX_ENGINE, else redis); `installed` "
        "keeps the default for the suite and runs engine-parametrised tests on every installed one",
    )


def pytest_configure(config: pytest.Config) -> None:
    engine = config.getoption("--sandbox-engine")
    if engine in ("redis", "valkey"):
        os.environ["SANDBOX_ENGINE"] = engine


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests that take `engine` run once per engine under test: the one chosen, or by default
    every engine installed here (valkey only when `make valkey-server` installed it)."""
    if "engine" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--sandbox-engine") or os.environ.get("SANDBOX_ENGINE")
    engines = installed_engines() if chosen in (None, "", "installed") else [chosen]
    metafunc.parametrize("engine", engines)


# -- markers by folder, and no network in unit tests ---------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.path)).resolve()
        if TESTS not in path.parents:
            continue
        folder = path.relative_to(TESTS).parts[0]
        if folder not in FOLDER_MARKERS:
            raise pytest.UsageError(
                f"tests/{folder} has no markers: add it to FOLDER_MARKERS in tests/conftest.py"
            )
        for marker in FOLDER_MARKERS[folder]:
            item.add_marker(marker)
        if folder in NO_NETWORK:
            item.add_marker(pytest.mark.disable_socket)
