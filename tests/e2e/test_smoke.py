"""`make e2e`'s script against the served sandbox: moto over HTTP, the function run as Lambda
would run it (its registered environment, its log lines in CloudWatch Logs), real TLS nodes.

The stack is a CloudFormation stack created in moto whose Outputs are the sandbox's secret, user,
log group and policy, so the script takes the same path as against an account: DescribeStacks,
then only the APIs a user's credentials reach. (An --outputs-json file would have skipped the one
call that finds the stack; a stack in moto keeps that call in the test.)
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from sandbox import Sandbox
from sandbox.sandbox import DEFAULT_ACL
from sandbox.server import ServedSandbox
from tests.e2e import smoke

pytestmark = pytest.mark.integration

SCHEDULE_GROUP = "smoke-drops"
SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/smoke-scheduler"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def served() -> Iterator[ServedSandbox]:
    with Sandbox(propagation_delay=0.05) as box, ServedSandbox(box) as server:
        # A second cluster (one shard, a replica) in the same ACL: 3 nodes over 2 clusters, so
        # "every node" is more than the one the secret's host names.
        box.create_cluster("smoke-second", shards=1, replicas_per_shard=1, acl=DEFAULT_ACL)
        server.client("scheduler").create_schedule_group(Name=SCHEDULE_GROUP)
        yield server


def deploy_example(served: ServedSandbox, policy: str) -> str:
    """What the example stack deploys, in the sandbox: a function with `policy`, a user, its
    secret attached to the function, and a stack whose outputs name them. Returns the stack."""
    n = next(_names)
    name = f"smoke-{n}"
    environment = {"OLD_PASSWORD_POLICY": policy}
    if policy == "drop-after":
        environment |= {"SCHEDULE_GROUP_NAME": SCHEDULE_GROUP, "SCHEDULER_ROLE_ARN": SCHEDULER_ROLE}
    function_arn = served.deploy_function(name, environment=environment)
    user = f"smoke-user-{n}"
    password = served.sandbox.create_user(user)
    secret = served.sandbox.create_secret(user, password, rotation=False)
    served.enable_rotation(secret, function_arn)
    outputs = {
        "SecretArn": secret,
        "UserName": user,
        "LogGroupName": f"/aws/lambda/{name}",
        "OldPasswordPolicy": policy,
        "RotationFunctionArn": function_arn,
    }
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    served.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))
    return name


def _run(stack: str, lines: list[str], **options: Any) -> smoke.Verdict:
    # The default chain, as a user's shell has it: the served sandbox set AWS_ENDPOINT_URL.
    options.setdefault("timeout", 60)
    session = boto3.session.Session()
    return smoke.run(session, stack, sleep=_fast, out=lines.append, **options)


def _fast(seconds: float) -> None:
    import time

    time.sleep(min(seconds, 0.05))


@pytest.mark.parametrize("policy", ["drop", "keep", "drop-after"])
def test_the_smoke_test_passes_against_a_deployed_stack(served: ServedSandbox, policy: str) -> None:
    stack = deploy_example(served, policy)
    lines: list[str] = []

    verdict = _run(stack, lines)

    assert verdict.passed, "\n".join(lines)
    assert lines[-1].startswith(f"smoke: PASS {stack}")
    # Four steps, each proven on all 2 + 1 nodes; the count the policy leaves.
    assert sum("proven on 3/3 nodes" in line for line in lines) == 4
    assert any(f"holds {smoke.PASSWORDS_AFTER[policy]} password" in line for line in lines)
    passwords = served.sandbox.passwords_seen
    assert not any(password in line for line in lines for password in passwords)


def test_a_rotation_that_fails_gives_a_fail_verdict(served: ServedSandbox) -> None:
    """A function that refuses the user: the rotation never completes, the verdict says so."""
    stack = deploy_example(served, "drop")
    function = served.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    arn = next(
        o["OutputValue"] for o in function["Outputs"] if o["OutputKey"] == "RotationFunctionArn"
    )
    served.client("lambda").update_function_configuration(
        FunctionName=arn, Environment={"Variables": {"ROTATION_ALLOWED_USERS": "someone-else"}}
    )
    lines: list[str] = []

    verdict = _run(stack, lines, timeout=8, log_wait=0.5)

    assert not verdict.passed
    assert lines[-1].startswith(f"smoke: FAIL {stack}")
    assert "AWSCURRENT moved" in lines[-1]
    # The function's own reason, from its log (names the setting, never a value).
    assert any("ROTATION_ALLOWED_USERS" in line or "not allowed" in line for line in lines), lines


def test_a_stack_without_the_outputs_is_refused_before_any_rotation(served: ServedSandbox) -> None:
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    served.client("cloudformation").create_stack(
        StackName="bare", TemplateBody=json.dumps(template)
    )

    with pytest.raises(smoke.SmokeError, match="no output SecretArn"):
        smoke.run(boto3.session.Session(), "bare", timeout=1, out=lambda _: None)
    with pytest.raises(smoke.SmokeError, match="cannot describe stack"):
        smoke.run(boto3.session.Session(), "no-such-stack", timeout=1, out=lambda _: None)
