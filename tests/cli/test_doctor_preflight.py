"""`doctor` as a pre-flight, before the rotation function exists, on the served sandbox with
real TLS nodes: what can be checked is, AWSCURRENT is proven on the nodes, and the checks that
need the function say so as their own verdict (never a pass)."""

from __future__ import annotations

import itertools

import pytest

from sandbox.sandbox import new_password
from sandbox.server import ServedSandbox
from tests.cli.conftest import Cli

pytestmark = pytest.mark.integration

_names = itertools.count(1)
FUNCTION_CHECKS = {
    "rotation-function",
    "function-settings",
    "function-timeout",
    "network-cluster-port",
    "network-aws-apis",
    "role-permissions",
    "secret-resource-policy",
    "failure-alarm",
}


def _undeployed(served: ServedSandbox, *, right_password: bool = True) -> str:
    user = f"preflight-{next(_names)}"
    password = served.sandbox.create_user(user)
    stored = password if right_password else new_password()
    return served.sandbox.create_secret(user, stored, rotation=False)


def test_before_deployment_the_checks_that_can_run_pass_and_the_rest_wait(
    cli: Cli, served: ServedSandbox
) -> None:
    arn = _undeployed(served)
    code, doc = cli.json("doctor", arn, "--ca-bundle", str(served.ca_bundle))
    results = {c["id"]: c["result"] for c in doc["checks"]}
    assert {k for k, v in results.items() if v == "not-deployed"} == FUNCTION_CHECKS
    assert {k for k, v in results.items() if v != "not-deployed"} == {
        k for k, v in results.items() if v == "pass"
    }
    assert results["current-on-nodes"] == "pass"
    assert (code, doc["verdict"]["code"]) == (0, "ready-to-deploy")
    assert doc["summary"]["not-deployed"] == len(FUNCTION_CHECKS)
    text = cli("doctor", arn, "--ca-bundle", str(served.ca_bundle)).stdout
    lines = [line for line in text.splitlines() if line.startswith("NOT DEPLOYED")]
    assert len(lines) == len(FUNCTION_CHECKS)
    assert all("not deployed yet" in line for line in lines)


def test_an_awscurrent_the_nodes_refuse_fails_before_deployment(
    cli: Cli, served: ServedSandbox
) -> None:
    arn = _undeployed(served, right_password=False)
    code, doc = cli.json("doctor", arn, "--ca-bundle", str(served.ca_bundle))
    check = next(c for c in doc["checks"] if c["id"] == "current-on-nodes")
    assert (code, check["result"]) == (1, "fail")
    assert "refused on" in check["detail"]
    assert "put-secret-value" in check["fix"]


def test_nodes_that_cannot_be_verified_leave_awscurrent_unchecked(
    cli: Cli, served: ServedSandbox
) -> None:
    # Without the sandbox's CA the nodes' certificates do not verify: unreachable, not refused.
    arn = _undeployed(served)
    code, doc = cli.json("doctor", arn)
    check = next(c for c in doc["checks"] if c["id"] == "current-on-nodes")
    assert (code, check["result"]) == (2, "cannot-check")
    assert "unreachable" in check["detail"]


def test_rotation_attached_to_a_function_that_does_not_exist_fails(
    cli: Cli, served: ServedSandbox
) -> None:
    arn = _undeployed(served)
    missing = "arn:aws:lambda:us-east-1:123456789012:function:never-deployed"
    served.enable_rotation(arn, missing)
    code, doc = cli.json("doctor", arn, "--ca-bundle", str(served.ca_bundle))
    checks = {c["id"]: c for c in doc["checks"]}
    assert code == 1
    assert checks["rotation-function"]["result"] == "fail"
    assert "does not exist" in checks["rotation-function"]["detail"]
    assert checks["function-settings"]["result"] == "not-deployed"
