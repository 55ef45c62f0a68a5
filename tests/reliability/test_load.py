"""The CI-sized load run: concurrent rotations against moto's HTTP server, 20 % throttled."""

from __future__ import annotations

from tests.reliability.campaign.load import CI_LOAD, run_load
from tests.reliability.campaign.report import Collected


def test_concurrent_rotations_under_throttling_all_complete(
    reliability_results: Collected,
) -> None:
    result = run_load(**CI_LOAD, throttle=0.2)
    reliability_results.load = result
    assert result.failures == []
    assert result.violations == []
    assert result.completed == CI_LOAD["secrets"]
    assert not result.timed_out
    assert result.throttled > 0.1 * result.requests
    # Every throttled attempt went through botocore's retry decision (scaled sleeps only).
    assert result.botocore_retries is not None
    assert result.botocore_retries >= result.throttled - result.step_failures
