"""Reliability fixtures: one sandbox per module (each case makes its own user and secret)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import Sandbox
from tests.reliability.campaign.harness import Harness

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every reliability test talks to a real redis-server and moto."""
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


# TLS like every MemoryDB cluster with password users: the fault proxy cuts the TCP stream (a
# TLS stream) at chosen bytes without reading it.
@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[Sandbox]:
    with Sandbox(propagation_delay=0.05) as box:
        yield box


@pytest.fixture(scope="module")
def harness(module_sandbox: Sandbox) -> Iterator[Harness]:
    with Harness(module_sandbox) as wired:
        yield wired


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(propagation_delay=0.05) as box:
        yield box
