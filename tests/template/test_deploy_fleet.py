"""Fleet mode (FleetName): which users and secrets one deployment may touch is decided by the
`memorydb-rotation-fleet` tag, enforced by IAM (aws:ResourceTag) and again by the function
(ROTATION_USER_TAG), instead of by a list of at most five names.

The condition keys each action supports come from the Service Authorization Reference
(docs/fleet.md quotes the rows); a statement that puts a condition on an action that does not
support it would silently not narrow anything, so it is a failure here.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from rotation.settings import Settings

from .cfn import KMS_KEY, Evaluator, iam_statements
from .test_deploy_iam import CODE_ACTIONS, WRITE_ACTIONS, action_problems
from .test_deploy_template import DROP_AFTER_TARGET

FLEET_TAG = "aws:ResourceTag/memorydb-rotation-fleet"
FLEET = {"FleetName": "payments", "FleetSecretNamePrefix": "memorydb/"}
FLEET_NO_PREFIX = {"FleetName": "payments"}
FLEET_EVERYTHING_ON = {
    **FLEET,
    "KmsKeyArn": KMS_KEY,
    "SubnetIds": "subnet-0a1b2c3d,subnet-4e5f6a7b",
    "SecurityGroupIds": "sg-0123abcd",
    "TracingEnabled": "true",
    "OldPasswordPolicy": "drop-after",
}
FLEET_SETS = {
    "fleet": FLEET,
    "fleet without a name prefix": FLEET_NO_PREFIX,
    "fleet, everything on": FLEET_EVERYTHING_ON,
}
SECRETS_UNDER_PREFIX = "arn:aws:secretsmanager:us-east-1:123456789012:secret:memorydb/*"
EVERY_USER = "arn:aws:memorydb:us-east-1:123456789012:user/*"

# Service Authorization Reference: the condition keys of each action the fleet's statements use
# (resource types Secret* and user*). Global keys such as aws:TagKeys are request keys.
SUPPORTED_CONDITIONS = {
    **{
        f"secretsmanager:{action}": {
            "secretsmanager:SecretId",
            "secretsmanager:resource/AllowRotationLambdaArn",
            "secretsmanager:ResourceTag/tag-key",
            "aws:ResourceTag/${TagKey}",
            "secretsmanager:SecretPrimaryRegion",
        }
        for action in (
            "DescribeSecret",
            "GetSecretValue",
            "PutSecretValue",
            "UpdateSecretVersionStage",
        )
    },
    "memorydb:DescribeUsers": {"aws:ResourceTag/${TagKey}"},
    "memorydb:ListTags": {"aws:ResourceTag/${TagKey}"},
    "memorydb:UpdateUser": {"aws:ResourceTag/${TagKey}", "memorydb:UserAuthenticationMode"},
    "memorydb:TagResource": {
        "aws:RequestTag/${TagKey}",
        "aws:ResourceTag/${TagKey}",
        "aws:TagKeys",
    },
    "memorydb:UntagResource": {"aws:ResourceTag/${TagKey}", "aws:TagKeys"},
}


def _allowed(template: dict[str, Any], parameters: dict[str, str]) -> list[dict[str, Any]]:
    statements = iam_statements(template, Evaluator(template, parameters))
    return [statement for statement in statements if statement.get("Effect") == "Allow"]


def _keys(condition: dict[str, Any]) -> set[str]:
    """The keys a statement requires to be present. A `ForAllValues:` block also holds over a key
    the request lacks (how one statement limits TagResource's aws:TagKeys and still allows
    DescribeUsers); any other operator on a key an action lacks denies that action."""
    return {
        key
        for operator, block in condition.items()
        if not operator.startswith("ForAllValues:")
        for key in block
    }


def _generic(key: str) -> str:
    return "aws:ResourceTag/${TagKey}" if key.startswith("aws:ResourceTag/") else key


def fleet_scope_problems(template: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    """Every grant on the fleet's secrets and users carries the fleet's tag condition, on
    actions that support it, and reaches no resource outside the prefix / the user type."""
    problems = []
    secrets = SECRETS_UNDER_PREFIX.replace("memorydb/", parameters.get("FleetSecretNamePrefix", ""))
    for statement in _allowed(template, parameters):
        fleet_actions = [a for a in statement["Action"] if a in SUPPORTED_CONDITIONS]
        if not fleet_actions:
            continue
        condition = statement.get("Condition", {})
        if condition.get("StringEquals", {}).get(FLEET_TAG) != parameters["FleetName"]:
            problems.append(f"{statement['_where']}: {fleet_actions} without {FLEET_TAG}")
        for action in fleet_actions:
            unsupported = {_generic(k) for k in _keys(condition)} - SUPPORTED_CONDITIONS[action]
            if unsupported:
                problems.append(f"{action} does not support {sorted(unsupported)}")
        expected = [secrets] if fleet_actions[0].startswith("secretsmanager:") else [EVERY_USER]
        if statement["Resource"] != expected:
            problems.append(f"{fleet_actions} on {statement['Resource']}, expected {expected}")
    return problems


@pytest.mark.parametrize("parameters", FLEET_SETS.values(), ids=FLEET_SETS.keys())
def test_every_action_is_one_the_code_calls(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    assert action_problems(template, parameters) == []


@pytest.mark.parametrize("parameters", FLEET_SETS.values(), ids=FLEET_SETS.keys())
def test_the_fleet_is_scoped_by_its_tag(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    assert fleet_scope_problems(template, parameters) == []


@pytest.mark.parametrize("sid", ["ReadAndStageTheGivenSecrets", "ReadAndUpdateTheAllowedUsers"])
def test_a_grant_without_the_tag_condition_is_caught(template: dict[str, Any], sid: str) -> None:
    for policy in template["Resources"]["RotationRole"]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement.get("Sid") == sid:
                condition = statement["Condition"]
                if "Fn::If" in condition:
                    del statement["Condition"]
                else:
                    del condition["StringEquals"]

    assert fleet_scope_problems(template, FLEET)


def test_a_condition_the_action_does_not_support_is_caught(template: dict[str, Any]) -> None:
    for policy in template["Resources"]["RotationRole"]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement.get("Sid") == "ReadAndUpdateTheAllowedUsers":
                statement["Condition"]["StringEquals"]["Fn::If"][1]["memorydb:TLSEnabled"] = "true"

    assert any("does not support" in p for p in fleet_scope_problems(template, FLEET))


@pytest.mark.parametrize("parameters", FLEET_SETS.values(), ids=FLEET_SETS.keys())
def test_every_wildcard_write_is_bound_to_the_fleet_tag(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    unbound = [
        f"{statement['_where']}: {action} on {resource}"
        for statement in _allowed(template, parameters)
        for action in WRITE_ACTIONS
        if any(fnmatch.fnmatchcase(action, pattern) for pattern in statement["Action"])
        for resource in statement["Resource"]
        if "*" in str(resource)
        and not action.startswith("scheduler:")  # the stack's own group (test_deploy_iam.py)
        and statement.get("Condition", {}).get("StringEquals", {}).get(FLEET_TAG)
        != parameters["FleetName"]
    ]
    assert unbound == []


def test_the_function_cannot_give_or_take_the_fleet_tag(template: dict[str, Any]) -> None:
    """The tag that decides the fleet is outside the keys the role may tag and untag, so a
    compromised function cannot enrol a user it was not given."""
    tagging = [s for s in _allowed(template, FLEET) if "memorydb:TagResource" in s["Action"]]
    assert tagging
    for statement in tagging:
        writable = statement["Condition"]["ForAllValues:StringLike"]["aws:TagKeys"]
        assert not any(fnmatch.fnmatchcase("memorydb-rotation-fleet", key) for key in writable)


@pytest.mark.parametrize("parameters", FLEET_SETS.values(), ids=FLEET_SETS.keys())
def test_the_function_checks_the_same_tag_itself(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    evaluator = Evaluator(template, parameters)
    environment = evaluator.resolve(
        template["Resources"]["RotationFunction"]["Properties"]["Environment"]["Variables"]
    )
    # Stand-ins for the names CloudFormation gives the drop-after resources at deploy time.
    settings = Settings.from_env(
        {**environment, **{k: v for k, v in DROP_AFTER_TARGET.items() if k in environment}}
    )

    assert settings.user_tag == ("memorydb-rotation-fleet", parameters["FleetName"])
    assert settings.allowed_users is None


@pytest.mark.parametrize(
    ("parameters", "source"),
    [
        (FLEET, SECRETS_UNDER_PREFIX),
        (FLEET_NO_PREFIX, "arn:aws:secretsmanager:us-east-1:123456789012:secret:*"),
    ],
)
def test_the_invoke_permission_admits_the_fleets_secrets(
    template: dict[str, Any], parameters: dict[str, str], source: str
) -> None:
    permission = Evaluator(template, parameters).resolve(
        template["Resources"]["RotationInvokePermission"]["Properties"]
    )

    assert permission["SourceAccount"] == "123456789012"
    assert permission["SourceArn"] == source


def test_kms_is_bound_to_the_fleets_secret_names(template: dict[str, Any]) -> None:
    statements = [
        s for s in _allowed(template, FLEET_EVERYTHING_ON) if "kms:Decrypt" in s["Action"]
    ]
    assert len(statements) == 1
    condition = statements[0]["Condition"]

    assert condition["StringEquals"] == {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
    assert condition["StringLike"] == {"kms:EncryptionContext:SecretARN": SECRETS_UNDER_PREFIX}


def test_the_alarm_follows_the_fleets_secrets_and_no_schedule_is_made(
    template: dict[str, Any],
) -> None:
    evaluator = Evaluator(template, FLEET)
    rule = evaluator.resolve(template["Resources"]["RotationFailedRule"]["Properties"])
    secret_ids = rule["EventPattern"]["detail"]["additionalEventData"]["SecretId"]

    assert secret_ids == [{"prefix": SECRETS_UNDER_PREFIX.rstrip("*")}]
    assert not evaluator.resource_exists("RotationSchedule")


def test_fleet_mode_takes_no_names(template: dict[str, Any]) -> None:
    rule = template["Rules"]["FleetModeTakesNoNames"]
    asserted = [assertion["Assert"] for assertion in rule["Assertions"]]

    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "FleetName"}, ""]}]}
    for name in ("SecretArns", "RotatableUsers", "RotationScheduleExpression"):
        assert {"Fn::Equals": [{"Ref": name}, ""]} in asserted


def test_every_action_the_fleet_relies_on_is_listed(template: dict[str, Any]) -> None:
    """The reference table above covers each Secrets Manager and user action the code calls."""
    user_and_secret_actions = {
        a
        for a in CODE_ACTIONS
        if a.startswith("secretsmanager:")
        or a not in {"memorydb:DescribeAcls", "memorydb:DescribeClusters"}
    }
    assert user_and_secret_actions == set(SUPPORTED_CONDITIONS)


# -- the fleet's policy, evaluated as IAM evaluates it ---------------------------------------------

CLAIM_KEY = "memorydb-rotation:claim:01733563200000000000"
USER_ACTIONS = ("DescribeUsers", "UpdateUser", "ListTags", "TagResource", "UntagResource")
SECRET_ACTIONS = ("DescribeSecret", "GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage")
A_USER = "arn:aws:memorydb:us-east-1:123456789012:user/app-user"


def _decide(template: dict[str, Any], action: str, resource: str, **context: list[str]) -> str:
    """IAM's decision for the fleet's role (the sandbox's evaluator: explicit deny, else any
    allow whose action, resource and conditions match, else implicit deny)."""
    from sandbox.iam_simulation import decide

    policies = [{"Statement": _allowed(template, FLEET)}]
    return decide(policies, action, resource, {k.lower(): v for k, v in context.items()})


def _user_context(action: str, fleet: str | None) -> dict[str, list[str]]:
    context = {FLEET_TAG: [fleet]} if fleet is not None else {}
    if action in ("TagResource", "UntagResource"):
        context["aws:TagKeys"] = [CLAIM_KEY]
    return context


@pytest.mark.parametrize("action", USER_ACTIONS)
@pytest.mark.parametrize(
    ("fleet", "expected"),
    [("payments", "allowed"), ("reporting", "implicitDeny"), (None, "implicitDeny")],
    ids=["the fleet's user", "another fleet's user", "an untagged user"],
)
def test_iam_lets_the_function_touch_only_the_fleets_users(
    template: dict[str, Any], action: str, fleet: str | None, expected: str
) -> None:
    assert (
        _decide(template, f"memorydb:{action}", A_USER, **_user_context(action, fleet)) == expected
    )


@pytest.mark.parametrize("key", ["memorydb-rotation-fleet", "owner", "memorydb-rotation:secret"])
def test_iam_lets_the_function_tag_only_its_own_keys(template: dict[str, Any], key: str) -> None:
    decision = _decide(
        template, "memorydb:TagResource", A_USER, **{FLEET_TAG: ["payments"], "aws:TagKeys": [key]}
    )

    assert decision == ("allowed" if key == "memorydb-rotation:secret" else "implicitDeny")


@pytest.mark.parametrize("action", SECRET_ACTIONS)
@pytest.mark.parametrize(
    ("name", "fleet", "expected"),
    [
        ("memorydb/app-Ab12Cd", "payments", "allowed"),
        ("memorydb/app-Ab12Cd", "reporting", "implicitDeny"),
        ("memorydb/app-Ab12Cd", None, "implicitDeny"),
        ("other/app-Ab12Cd", "payments", "implicitDeny"),
    ],
    ids=["the fleet's secret", "another fleet's", "untagged", "outside the name prefix"],
)
def test_iam_lets_the_function_touch_only_the_fleets_secrets(
    template: dict[str, Any], action: str, name: str, fleet: str | None, expected: str
) -> None:
    secret = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}"
    context = {FLEET_TAG: [fleet]} if fleet is not None else {}

    assert _decide(template, f"secretsmanager:{action}", secret, **context) == expected


@pytest.mark.parametrize(
    ("action", "resource"), [("DescribeAcls", "acl/app-acl"), ("DescribeClusters", "cluster/c1")]
)
def test_iam_lets_the_function_read_the_topology_untagged(
    template: dict[str, Any], action: str, resource: str
) -> None:
    """Where a user lives is read whatever the ACL's and the cluster's tags."""
    arn = f"arn:aws:memorydb:us-east-1:123456789012:{resource}"

    assert _decide(template, f"memorydb:{action}", arn) == "allowed"
    assert _decide(template, f"memorydb:{action}", A_USER) == "implicitDeny"
