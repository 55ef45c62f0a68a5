"""Bad and hostile input, table-driven: a clear error naming the problem, nothing written, and no
secret material in the error or anything the function printed or logged; or, for the races and
late retries the function must come through, nothing broken and only the step's own writes."""

from __future__ import annotations

import pytest

from sandbox import Sandbox
from tests.reliability.campaign.badinput import CASES, BadCase, run_case
from tests.reliability.campaign.report import Collected


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 20
    assert len({c.name for c in CASES}) == len(CASES)


REFUSED = [c for c in CASES if c.kind == "refused"]
KEPT_SAFE = [c for c in CASES if c.kind == "kept safe"]


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_refused_cleanly(
    module_sandbox: Sandbox, case: BadCase, reliability_results: Collected
) -> None:
    result = run_case(module_sandbox, case, CASES.index(case))
    reliability_results.results.append(result)
    assert result.writes == 0, result.detail
    assert result.leaks == 0, result.detail
    assert result.ok, result.detail


@pytest.mark.parametrize("case", KEPT_SAFE, ids=[c.name for c in KEPT_SAFE])
def test_kept_safe(module_sandbox: Sandbox, case: BadCase, reliability_results: Collected) -> None:
    result = run_case(module_sandbox, case, CASES.index(case))
    reliability_results.results.append(result)
    assert result.writes == 0, result.detail  # none beyond the step's own
    assert result.leaks == 0, result.detail
    assert result.ok, result.detail
