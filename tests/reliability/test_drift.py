"""Drift and recovery: what the service does when it finds a state someone else left."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.reliability.campaign.drift import SCENARIOS
from tests.reliability.campaign.harness import Harness


@pytest.mark.parametrize(("name", "scenario"), SCENARIOS, ids=[name for name, _ in SCENARIOS])
def test_recovers_as_documented(
    harness: Harness, name: str, scenario: Callable[[Harness], str]
) -> None:
    # Every check is inside the scenario, which raises ScenarioFailed naming the one that broke;
    # what it returns is the report's description, true of any run that gets that far.
    scenario(harness)
