"""Reliability fixtures: one sandbox per module (each case makes its own user and secret), and
the reliability report printed at the end of the pytest run.

The families run once, here: each test hands its results to `reliability_results`, and the
report's lines (the same as `make reliability` prints) close the run's output. A failed case
fails its test; the report only counts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox import Sandbox
from tests.reliability.campaign.harness import Harness
from tests.reliability.campaign.report import Collected, report_lines

_COLLECTED = Collected()


@pytest.fixture(scope="session")
def reliability_results() -> Collected:
    return _COLLECTED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _COLLECTED.results and _COLLECTED.load is None:
        return
    terminalreporter.section("reliability report")
    for line in report_lines(_COLLECTED.results, _COLLECTED.load):
        terminalreporter.write_line(line)


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
