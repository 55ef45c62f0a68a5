"""A CI-sized load run: concurrent rotations against moto's HTTP server, 20 % throttled."""

from __future__ import annotations

from tests.reliability.campaign.load import run_load


def test_concurrent_rotations_under_throttling_all_complete() -> None:
    result = run_load(20, workers=10, throttle=0.2, deadline_seconds=90.0, backoff_scale=0.1)
    assert result.failures == []
    assert result.violations == []
    assert result.completed == 20
    assert not result.timed_out
    assert result.throttled > 0.1 * result.requests
    # Every throttled attempt went through botocore's retry decision (scaled sleeps only).
    assert result.botocore_retries is not None
    assert result.botocore_retries >= result.throttled - result.step_failures
