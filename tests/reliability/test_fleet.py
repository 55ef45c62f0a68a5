"""One deployment in fleet mode rotates every tagged user over several clusters (CI-sized here;
`make fleet` runs 200): invariants held, no failure, the same AWS calls per rotation as the
named mode, and users without the fleet's tag refused with no write."""

from __future__ import annotations

from tests.reliability.campaign.fleet import CI_FLEET, run_fleet


def test_one_deployment_rotates_a_tagged_fleet() -> None:
    result = run_fleet(**CI_FLEET)
    print("\n".join(result.lines()))

    assert result.failures == []
    assert result.violations == []
    assert result.rotated == CI_FLEET["users"]
    assert result.secrets == CI_FLEET["users"] + CI_FLEET["untagged"]
    assert result.invariant_checks >= 5 * CI_FLEET["users"]
    # Equal to the named mode's rotation: the tag check costs no AWS call of its own.
    assert result.baseline_calls
    assert result.differing_calls == []
    assert result.calls_per_rotation == result.baseline_calls
    assert result.refused_untagged == CI_FLEET["untagged"]
    assert result.untagged_writes == []
