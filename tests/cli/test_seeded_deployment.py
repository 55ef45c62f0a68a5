"""The served sandbox's seeded deployment (`python -m sandbox.server --seed`) is a correct one,
as `doctor` judges it, and each deliberate omission (`--seed-broken`) fails the check that names
it and no other. Its role policy is the template's, statement by statement."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from sandbox.sandbox import Sandbox
from sandbox.server import BREAKABLE, ServedSandbox, rotation_role_policy, seed_deployment
from tests.cli.conftest import Cli
from tests.template import cfn

pytestmark = pytest.mark.integration

_names = itertools.count(1)

# What each omission breaks, as doctor's check ids.
FAILS = {
    "role-policy": {"role-permissions"},
    "network": {"network-cluster-port", "network-aws-apis"},
    "password": {"current-on-nodes"},
    "resource-policy": {"secret-resource-policy"},
    "alarm": {"failure-alarm"},
}


@pytest.fixture(scope="module")
def served() -> Iterator[ServedSandbox]:
    # A sandbox of its own: the seeds change what the shared one's tests expect of it.
    with Sandbox(propagation_delay=0.05) as box, ServedSandbox(box) as server:
        yield server


def _doctor(
    cli: Cli, served: ServedSandbox, broken: frozenset[str]
) -> tuple[int, dict[str, str], str]:
    n = next(_names)
    seeded = seed_deployment(served, user=f"seed-user-{n}", function=f"seed-{n}", broken=broken)
    code, doc = cli.json("doctor", seeded["secret"], "--ca-bundle", str(served.ca_bundle))
    return code, {c["id"]: c["result"] for c in doc["checks"]}, seeded["secret"]


def test_every_omission_names_a_check() -> None:
    assert set(FAILS) == BREAKABLE


def test_the_seeded_deployment_passes_every_check(cli: Cli, served: ServedSandbox) -> None:
    code, results, secret = _doctor(cli, served, frozenset())
    assert set(results.values()) == {"pass"}, results
    assert code == 0
    # And it rotates, on the user's own cluster.
    code, rotated = cli.json("rotate", secret, "--follow", "--timeout", "120")
    assert (code, rotated["result"]) == (0, "succeeded")


@pytest.mark.parametrize("broken", sorted(FAILS))
def test_a_broken_seed_fails_exactly_its_checks(
    cli: Cli, served: ServedSandbox, broken: str
) -> None:
    code, results, _secret = _doctor(cli, served, frozenset({broken}))
    assert code == 1
    assert {k for k, v in results.items() if v == "fail"} == FAILS[broken]
    assert {k for k, v in results.items() if v != "fail"} == {
        k for k, v in results.items() if v == "pass"
    }


def test_the_seeded_role_policy_is_the_templates() -> None:
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:memorydb/app-user-AbCdEf"
    template = cfn.load(cfn.ROOT / "template.yaml")
    evaluator = cfn.Evaluator(template, {"SecretArns": secret, "RotatableUsers": "app-user"})
    keys = ("Sid", "Effect", "Action", "Resource", "Condition")
    granted = [
        {k: s[k] for k in keys if k in s}
        for s in cfn.iam_statements(template, evaluator)
        if s["_where"] == "RotationRole" and not any(r.startswith("<") for r in s["Resource"])
    ]
    user_arn = "arn:aws:memorydb:us-east-1:123456789012:user/app-user"
    assert rotation_role_policy(secret, user_arn)["Statement"] == granted
