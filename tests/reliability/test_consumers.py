"""Real clients of the secret through rotations: with drop-after no kind of client fails a
connection and the user is back to one password; with drop the naive cached client does fail
(so the campaign can see a failure at all)."""

from __future__ import annotations

import pytest

from tests.reliability.campaign.consumers import Plan, PolicyResult, run_consumers

# R = 3 s: a cached client's window of failure after a drop is 0.39 R on average, long enough
# for a loaded machine's slower TLS connections to land in it.
PLAN = Plan(
    refresh_seconds=3,
    grace_seconds=4,
    spacing_seconds=6.0,
    rotations=1,
    consumers_per_kind=2,
    policies=("drop", "drop-after"),
)


@pytest.fixture(scope="module")
def results(pytestconfig: pytest.Config) -> dict[str, PolicyResult]:
    found = {result.policy: result for result in run_consumers(PLAN)}
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:  # the figures the docs quote: failed/total per kind and policy
        reporter.write_line("")
        for result in found.values():
            reporter.write_line(result.line())
    return found


def test_drop_after_breaks_no_client_and_ends_with_one_password(
    results: dict[str, PolicyResult],
) -> None:
    result = results["drop-after"]
    assert result.errors == []
    assert result.rotations_ok == 1
    assert {kind: count.failed for kind, count in result.counts.items()} == {
        "cached": 0,
        "reread": 0,
        "fresh": 0,
    }
    assert all(count.connections > 20 for count in result.counts.values())
    assert result.final_password_count == 1
    assert result.judged_ok()


def test_drop_breaks_the_naive_cached_client_only(results: dict[str, PolicyResult]) -> None:
    result = results["drop"]
    assert result.counts["cached"].failed > 0
    assert result.counts["reread"].failed == 0
    assert result.counts["fresh"].failed == 0
    assert result.judged_ok()
