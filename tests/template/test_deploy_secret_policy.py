"""infra/example-stack.yaml: the rotated secret's resource policy lets only the rotation role (and
the named administrators) write versions, and only the administrators manage the secret.

The policy is resolved with cfn.Evaluator for given parameters, like the role's IAM statements in
test_deploy_iam.py, then decided per principal and action by the CLI's secret_policy.py, the checker
the operator tooling runs on a deployed secret.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from memorydb_rotation_cli.secret_policy import (
    RECOMMENDED_ACTIONS,
    ROTATION_WRITES,
    check_secret_policy,
    denies,
    recommended_policy,
)

from .cfn import EXAMPLE_ADMINS, EXAMPLE_REQUIRED, Evaluator, load
from .conftest import TEMPLATE_PATH
from .test_deploy_iam import CODE_ACTIONS

# What `!GetAtt RotationApp.Outputs.RotationRoleArn` becomes in a real deployment.
ROLE = "arn:aws:iam::123456789012:role/rotation-test-RotationApp-1A2B-RotationRole-3C4D"
SYMBOLIC_ROLE = "<GetAtt RotationApp.Outputs.RotationRoleArn>"
ROOT = "arn:aws:iam::123456789012:root"
ADMIN_SETS = {
    "one administrator": {"AdministratorArns": "arn:aws:iam::123456789012:user/alice"},
    "two, one with a path": EXAMPLE_REQUIRED,
}


def rotated_secrets(stack: dict[str, Any], evaluator: Evaluator) -> list[str]:
    """The secrets the nested application rotates, as logical ids."""
    given = evaluator.resolve(stack["Resources"]["RotationApp"]["Properties"]["Parameters"])
    return [
        match.group(1) for match in re.finditer(r"<Ref (\w+)>", str(given.get("SecretArns", "")))
    ]


def secret_policies(stack: dict[str, Any], evaluator: Evaluator) -> dict[str, list[Any]]:
    """Every AWS::SecretsManager::ResourcePolicy, resolved, keyed by the secret it protects."""
    found: dict[str, list[Any]] = {}
    for logical_id, resource in stack["Resources"].items():
        if resource["Type"] != "AWS::SecretsManager::ResourcePolicy":
            continue
        if not evaluator.resource_exists(logical_id):
            continue
        properties = evaluator.resolve(resource["Properties"])
        found.setdefault(str(properties["SecretId"]), []).append(properties)
    return found


def policy_document(properties: dict[str, Any]) -> dict[str, Any]:
    """The policy as Secrets Manager would store it, with the role's real-looking ARN."""
    raw = properties["ResourcePolicy"]
    text = raw if isinstance(raw, str) else json.dumps(raw)
    document: dict[str, Any] = json.loads(text.replace(SYMBOLIC_ROLE, ROLE))
    return document


def secret_policy_problems(stack: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    evaluator = Evaluator(stack, parameters)
    policies = secret_policies(stack, evaluator)
    secrets = rotated_secrets(stack, evaluator)
    problems = [] if secrets else ["the application rotates no secret of this stack"]
    for secret in secrets:
        attached = policies.get(f"<Ref {secret}>", [])
        if not attached:
            problems.append(f"{secret} has no resource policy: anyone IAM allows may write it")
            continue
        if len(attached) > 1:
            problems.append(
                f"{secret} has {len(attached)} resource policies; they overwrite each other"
            )
        properties = attached[-1]
        if properties.get("BlockPublicPolicy") is not True:
            problems.append(f"{secret}'s policy does not set BlockPublicPolicy")
        problems += [
            f"{secret}: {problem}"
            for problem in check_secret_policy(
                policy_document(properties),
                ROLE,
                administrators=parameters["AdministratorArns"].split(","),
                actions=RECOMMENDED_ACTIONS,
            ).problems
        ]
    return problems


@pytest.mark.parametrize("parameters", ADMIN_SETS.values(), ids=ADMIN_SETS.keys())
def test_only_the_rotation_role_and_the_administrators_may_write(
    example_stack: dict[str, Any], parameters: dict[str, str]
) -> None:
    assert secret_policy_problems(example_stack, parameters) == []


def test_the_policy_as_iam_would_decide_it(example_stack: dict[str, Any]) -> None:
    evaluator = Evaluator(example_stack, EXAMPLE_REQUIRED)
    (properties,) = secret_policies(example_stack, evaluator)["<Ref AppUserSecret>"]
    policy = policy_document(properties)
    admins = EXAMPLE_ADMINS.split(",")
    strangers: list[str | None] = [
        "arn:aws:iam::123456789012:role/app-with-secretsmanager-star",
        "arn:aws:iam::123456789012:user/bob",
        "arn:aws:iam::123456789012:role/platform-admin-readonly",
        "arn:aws:iam::210987654321:role/platform-admin",
        None,  # no principal ARN: an AWS service
    ]

    for action in RECOMMENDED_ACTIONS:
        assert denies(policy, action, ROLE) is (action not in ROTATION_WRITES), action
        for admin in [*admins, ROOT]:
            assert not denies(policy, action, admin), (action, admin)
        for principal in strangers:
            assert denies(policy, action, principal), (action, principal)
    for read in ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"):
        assert not denies(policy, read, strangers[0])


def test_every_secret_write_the_code_makes_stays_allowed(example_stack: dict[str, Any]) -> None:
    evaluator = Evaluator(example_stack, EXAMPLE_REQUIRED)
    (properties,) = secret_policies(example_stack, evaluator)["<Ref AppUserSecret>"]
    policy = policy_document(properties)

    for action in sorted(a for a in CODE_ACTIONS if a.startswith("secretsmanager:")):
        assert not denies(policy, action, ROLE), action


def test_the_exempt_role_is_the_one_the_function_runs_as() -> None:
    """The policy names the application's RotationRoleArn output; that output must be the
    function's own role, or the exemption would let the wrong principal write."""
    application = load(TEMPLATE_PATH)

    assert application["Outputs"]["RotationRoleArn"]["Value"] == {
        "Fn::GetAtt": ["RotationRole", "Arn"]
    }
    assert application["Resources"]["RotationFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["RotationRole", "Arn"]
    }


def test_a_stack_without_the_policy_is_flagged(example_stack: dict[str, Any]) -> None:
    del example_stack["Resources"]["AppUserSecretPolicy"]

    assert secret_policy_problems(example_stack, EXAMPLE_REQUIRED) == [
        "AppUserSecret has no resource policy: anyone IAM allows may write it"
    ]


@pytest.mark.parametrize(
    "mutation",
    [
        "public policies allowed",
        "UpdateSecretVersionStage left out",
        "another condition key",
        "the role left out",
        "a wildcard exemption",
        "attached to the bootstrap secret",
        "policy changes left to anyone",
        "a second, empty policy",
    ],
)
def test_a_policy_that_does_not_hold_is_flagged(
    example_stack: dict[str, Any], mutation: str
) -> None:
    resources = example_stack["Resources"]
    properties = resources["AppUserSecretPolicy"]["Properties"]
    writes = properties["ResourcePolicy"]["Statement"][0]
    manage = properties["ResourcePolicy"]["Statement"][1]
    if mutation == "public policies allowed":
        properties["BlockPublicPolicy"] = False
    elif mutation == "UpdateSecretVersionStage left out":
        writes["Action"].remove("secretsmanager:UpdateSecretVersionStage")
    elif mutation == "another condition key":
        writes["Condition"]["ArnNotEquals"] = {
            "aws:SourceArn": writes["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
        }
    elif mutation == "the role left out":
        sub = writes["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]["Fn::Split"][1]["Fn::Sub"]
        sub[0] = sub[0].replace("${RotationRoleArn},", "")
    elif mutation == "a wildcard exemption":
        manage["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] = [
            "arn:aws:iam::123456789012:role/*"
        ]
    elif mutation == "attached to the bootstrap secret":
        properties["SecretId"] = {"Ref": "BootstrapPasswordSecret"}
    elif mutation == "policy changes left to anyone":
        manage["Action"] = [a for a in manage["Action"] if "ResourcePolicy" not in a]
    else:
        resources["SecondPolicy"] = {
            "Type": "AWS::SecretsManager::ResourcePolicy",
            "Properties": {
                "SecretId": {"Ref": "AppUserSecret"},
                "BlockPublicPolicy": True,
                "ResourcePolicy": {"Version": "2012-10-17", "Statement": []},
            },
        }

    assert secret_policy_problems(example_stack, EXAMPLE_REQUIRED)


def test_the_policy_is_the_documented_one(example_stack: dict[str, Any]) -> None:
    """What docs/secret-policy.md prints for secrets the application does not own is what the
    example attaches: the role exempt only from the writes it makes, the root user and the
    administrators from everything."""
    evaluator = Evaluator(example_stack, EXAMPLE_REQUIRED)
    (properties,) = secret_policies(example_stack, evaluator)["<Ref AppUserSecret>"]

    assert policy_document(properties) == recommended_policy(ROLE, EXAMPLE_ADMINS.split(","))


def _pattern(stack: dict[str, Any]) -> re.Pattern[str]:
    return re.compile(stack["Parameters"]["AdministratorArns"]["AllowedPattern"])


@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:iam::123456789012:role/platform-admin",
        "arn:aws:iam::123456789012:user/alice",
        EXAMPLE_ADMINS,
        "arn:aws-us-gov:iam::123456789012:role/a/b/c.d@e+f=g_h",
    ],
)
def test_the_administrators_parameter_takes_role_and_user_arns(
    example_stack: dict[str, Any], value: str
) -> None:
    assert _pattern(example_stack).fullmatch(value)
    assert "Default" not in example_stack["Parameters"]["AdministratorArns"]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "*",
        "arn:aws:iam::123456789012:role/*",
        "arn:aws:iam::123456789012:role/admin?",
        "arn:aws:iam::123456789012:root",
        "arn:aws:sts::123456789012:assumed-role/platform-admin/alice",
        "arn:aws:iam::123456789012:role/a, arn:aws:iam::123456789012:role/b",
        "arn:aws:iam::123456789012:role/a,",
        "platform-admin",
    ],
)
def test_the_administrators_parameter_refuses_what_would_not_match_a_caller(
    example_stack: dict[str, Any], value: str
) -> None:
    assert not _pattern(example_stack).fullmatch(value)
