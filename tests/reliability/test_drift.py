"""Drift and recovery: what the service does when it finds a state someone else left."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.reliability.campaign.drift import SCENARIOS, run_scenario
from tests.reliability.campaign.harness import Harness
from tests.reliability.campaign.report import Collected


@pytest.mark.parametrize(("name", "scenario"), SCENARIOS, ids=[name for name, _ in SCENARIOS])
def test_recovers_as_documented(
    harness: Harness,
    name: str,
    scenario: Callable[[Harness], str],
    reliability_results: Collected,
) -> None:
    result = run_scenario(harness, name, scenario)
    reliability_results.results.append(result)
    assert result.ok, result.detail
