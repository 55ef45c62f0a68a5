"""Every AWS call index faulted before and after, every data-plane connection refused or reset,
the Lambda's time running out inside a wait: each rotation completes and no invariant breaks."""

from __future__ import annotations

from collections import Counter

import pytest

from sandbox import Sandbox
from tests.reliability.campaign.campaign import (
    CaseResult,
    CleanRecord,
    aws_faults,
    run_campaign,
)
from tests.reliability.campaign.faults import KINDS
from tests.reliability.campaign.report import Collected

WRITES = ("PutSecretValue", "UpdateUser", "UpdateSecretVersionStage")


@pytest.fixture(scope="module")
def campaign(reliability_results: Collected) -> tuple[CleanRecord, list[CaseResult]]:
    # The plan comes from the campaign's own clean rotation, on its logical clock: a clean
    # rotation recorded here on real time can poll DescribeUsers a different number of times.
    with Sandbox(propagation_delay=0.05) as box:
        clean, results = run_campaign(box)
    reliability_results.results += results
    return clean, results


def test_the_clean_rotation_makes_every_write(
    campaign: tuple[CleanRecord, list[CaseResult]],
) -> None:
    clean, _results = campaign
    assert set(WRITES) <= set(clean.operations)
    assert clean.connections >= 4  # createSecret, setSecret, testSecret (2), finishSecret


def test_every_call_index_is_faulted_before_and_after(
    campaign: tuple[CleanRecord, list[CaseResult]],
) -> None:
    clean, results = campaign
    aws = [r for r in results if r.family == "aws"]
    assert len(aws) == 2 * len(clean.operations)
    for index in range(len(clean.operations)):
        for position in ("before", "after"):
            assert any(r.name.startswith(f"#{index:02d} {position}") for r in aws)


def test_the_plan_covers_every_kind_and_both_persistences(
    campaign: tuple[CleanRecord, list[CaseResult]],
) -> None:
    clean, _results = campaign
    plan = aws_faults(clean)
    kinds = Counter((f.kind, f.position) for f in plan)
    assert {(k, p) for k in KINDS for p in ("before", "after")} <= set(kinds)
    assert {f.outage for f in plan if f.kind != "kill"} == {True, False}


@pytest.mark.parametrize("family", ["aws", "data-plane", "timeout"])
def test_every_fault_is_survived(
    campaign: tuple[CleanRecord, list[CaseResult]], family: str
) -> None:
    clean, results = campaign
    mine = [r for r in results if r.family == family]
    expected = {"aws": 2 * len(clean.operations), "data-plane": 2 * clean.connections}
    assert len(mine) == expected.get(family, 2)
    failures = [f"{r.name}: {r.detail}" for r in mine if not r.ok]
    assert failures == []
    assert sum(r.leaks for r in mine) == 0


def test_faults_around_the_drop_after_schedule_are_survived(
    campaign: tuple[CleanRecord, list[CaseResult]],
) -> None:
    _clean, results = campaign
    grace = [r for r in results if r.family == "grace"]
    names = [r.name for r in grace]
    for where, operation in (("finishSecret", "CreateSchedule"), ("drop", "UpdateUser")):
        for position in ("before", "after"):
            assert any(
                n.startswith(where) and position in n and n.endswith(operation) for n in names
            ), (where, position, operation)
    assert [f"{r.name}: {r.detail}" for r in grace if not r.ok] == []
    assert sum(r.leaks for r in grace) == 0
    assert sum(r.failed_invocations for r in grace) > 0  # outages and kills did fail invocations
