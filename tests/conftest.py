"""Helpers and pytest options shared by every test family."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sandbox.topology import installed_engines

EVENTS = Path(__file__).resolve().parent.parent / "events"


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
