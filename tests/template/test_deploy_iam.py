"""The template's permissions as code: every action is one the code calls (or the platform needs
for it), writes never have a `*` resource, the scopes evaluate to exactly the given secrets and
users, KMS only through Secrets Manager, and the invoke permission names the calling account.

The checks evaluate the template's conditions for several parameter sets, so a statement hidden
in an Fn::If or a conditional policy is checked too (checkov does not look inside Fn::If).
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from rotation.settings import Settings

from .cfn import (
    EVERYTHING_ON,
    KMS_KEY,
    PARAMETER_SETS,
    REQUIRED,
    SECRET_A,
    SECRET_B,
    SINGLE_SECRET_SCHEDULED,
    Evaluator,
    iam_statements,
    opaque_policies,
)

# What rotation/ calls (the complete list; GetRandomPassword is not used: passwords come from
# Python's `secrets`).
CODE_ACTIONS = frozenset(
    {
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "memorydb:DescribeUsers",
        "memorydb:UpdateUser",
        "memorydb:ListTags",
        "memorydb:TagResource",
        "memorydb:UntagResource",
        "memorydb:DescribeAcls",
        "memorydb:DescribeClusters",
    }
)
# What rotation/ calls only with OldPasswordPolicy=drop-after (rotation/adapters/scheduler.py).
DROP_AFTER_ACTIONS = frozenset({"scheduler:CreateSchedule", "iam:PassRole"})
# What the platform needs on the function's behalf, and when.
PLATFORM_ACTIONS = {
    "kms:Decrypt": "Secrets Manager decrypts a secret under a customer-managed key",
    "kms:GenerateDataKey": "Secrets Manager encrypts the new version under that key",
    "logs:CreateLogStream": "Lambda writes the function's log",
    "logs:PutLogEvents": "Lambda writes the function's log",
    "ec2:CreateNetworkInterface": "Lambda attaches the function to the VPC",
    "ec2:DescribeNetworkInterfaces": "Lambda attaches the function to the VPC",
    "ec2:DescribeSubnets": "Lambda attaches the function to the VPC",
    "ec2:DeleteNetworkInterface": "Lambda attaches the function to the VPC",
    "ec2:AssignPrivateIpAddresses": "Lambda attaches the function to the VPC",
    "ec2:UnassignPrivateIpAddresses": "Lambda attaches the function to the VPC",
    "xray:PutTraceSegments": "the tracer sends traces (opt-in)",
    "xray:PutTelemetryRecords": "the tracer sends traces (opt-in)",
    "lambda:InvokeFunction": "Scheduler invokes the function when a grace ends (drop-after)",
}
# Secrets Manager's write actions (service authorization reference) and MemoryDB's UpdateUser:
# none of them may ever be granted on a `*` resource.
WRITE_ACTIONS = (
    *(
        f"secretsmanager:{name}"
        for name in (
            "CancelRotateSecret",
            "CreateSecret",
            "DeleteSecret",
            "PutSecretValue",
            "RemoveRegionsFromReplication",
            "ReplicateSecretToRegions",
            "RestoreSecret",
            "RotateSecret",
            "StopReplicationToReplica",
            "UpdateSecret",
            "UpdateSecretVersionStage",
        )
    ),
    "memorydb:UpdateUser",
    "memorydb:TagResource",
    "memorydb:UntagResource",
    "scheduler:CreateSchedule",
    "iam:PassRole",
)
USER_ARN = "arn:aws:memorydb:us-east-1:123456789012:user/{}"


def _allowed(template: dict[str, Any], parameters: dict[str, str]) -> list[dict[str, Any]]:
    statements = iam_statements(template, Evaluator(template, parameters))
    return [statement for statement in statements if statement.get("Effect") == "Allow"]


def _resources_for(action: str, statements: list[dict[str, Any]]) -> list[str]:
    return sorted(
        resource
        for statement in statements
        if any(fnmatch.fnmatchcase(action, pattern) for pattern in statement["Action"])
        for resource in statement["Resource"]
    )


# --- every action is one the code calls ------------------------------------------------------


def action_problems(template: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    statements = _allowed(template, parameters)
    problems = [
        f"unreadable permissions: {p}"
        for p in opaque_policies(template, Evaluator(template, parameters))
    ]
    granted = set()
    for statement in statements:
        for action in statement["Action"]:
            if "*" in action or "?" in action:
                problems.append(f"{statement['_where']}: wildcard action {action}")
            elif action not in CODE_ACTIONS | DROP_AFTER_ACTIONS and action not in PLATFORM_ACTIONS:
                problems.append(f"{statement['_where']}: {action} is not called by the code")
            granted.add(action)
    needed = CODE_ACTIONS
    if parameters.get("OldPasswordPolicy") == "drop-after":
        needed = needed | DROP_AFTER_ACTIONS
    problems += [f"the code calls {action} but nothing allows it" for action in needed - granted]
    return problems


@pytest.mark.parametrize("parameters", PARAMETER_SETS.values(), ids=PARAMETER_SETS.keys())
def test_every_iam_action_is_one_the_code_calls(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    assert action_problems(template, parameters) == []


def _statement(template: dict[str, Any], sid: str) -> dict[str, Any]:
    for policy in template["Resources"]["RotationRole"]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement.get("Sid") == sid:
                return dict(statement)
    raise AssertionError(f"no statement {sid}")


def _replace_statement(template: dict[str, Any], sid: str, new: dict[str, Any]) -> None:
    for policy in template["Resources"]["RotationRole"]["Properties"]["Policies"]:
        statements = policy["PolicyDocument"]["Statement"]
        for index, statement in enumerate(statements):
            if statement.get("Sid") == sid:
                statements[index] = new
                return
    raise AssertionError(f"no statement {sid}")


@pytest.mark.parametrize(
    "mutation",
    [
        "an unused action",
        "a wildcard action",
        "a dropped action",
        "a managed policy",
        "a hidden statement",
    ],
)
def test_a_permission_the_code_does_not_need_is_caught(
    template: dict[str, Any], mutation: str
) -> None:
    role = template["Resources"]["RotationRole"]["Properties"]
    users = _statement(template, "ReadAndUpdateTheAllowedUsers")
    if mutation == "an unused action":
        secrets = _statement(template, "ReadAndStageTheGivenSecrets")
        secrets["Action"] = [*secrets["Action"], "secretsmanager:GetRandomPassword"]
        _replace_statement(template, "ReadAndStageTheGivenSecrets", secrets)
    elif mutation == "a wildcard action":
        _replace_statement(
            template, "ReadAndUpdateTheAllowedUsers", {**users, "Action": "memorydb:*"}
        )
    elif mutation == "a dropped action":
        _replace_statement(
            template,
            "ReadAndUpdateTheAllowedUsers",
            {**users, "Action": ["memorydb:DescribeUsers"]},
        )
    elif mutation == "a managed policy":
        role["ManagedPolicyArns"].append("arn:aws:iam::aws:policy/SecretsManagerReadWrite")
    else:
        policy = template["Resources"]["VpcAccessPolicy"]["Properties"]["PolicyDocument"]
        policy["Statement"].append(
            {"Effect": "Allow", "Action": "secretsmanager:DeleteSecret", "Resource": SECRET_A}
        )

    assert action_problems(template, EVERYTHING_ON)


def test_the_bad_fixture_permissions_are_caught(bad_template: dict[str, Any]) -> None:
    problems = action_problems(bad_template, {})

    assert any("GetRandomPassword" in problem for problem in problems)
    assert any("memorydb:*" in problem for problem in problems)


# --- no write on `*` ---------------------------------------------------------------------------


# The one write whose resource must end in `*`: drop-after's schedules are named per rotation, so
# the stack's own schedule group is the narrowest scope there is (test_deploy_grace.py).
GROUP_SCOPED = {
    "scheduler:CreateSchedule": (
        "arn:aws:scheduler:us-east-1:123456789012:schedule/<Ref DropScheduleGroup>/*"
    )
}


def wildcard_write_problems(template: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    return [
        f"{statement['_where']}: {action} on {resource}"
        for statement in _allowed(template, parameters)
        for action in WRITE_ACTIONS
        if any(fnmatch.fnmatchcase(action, pattern) for pattern in statement["Action"])
        for resource in statement["Resource"]
        if "*" in str(resource) and GROUP_SCOPED.get(action) != resource
    ]


@pytest.mark.parametrize("parameters", PARAMETER_SETS.values(), ids=PARAMETER_SETS.keys())
def test_no_write_action_has_a_wildcard_resource(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    assert wildcard_write_problems(template, parameters) == []


@pytest.mark.parametrize(
    ("sid", "resource"),
    [
        ("ReadAndStageTheGivenSecrets", "*"),
        ("ReadAndStageTheGivenSecrets", "arn:aws:secretsmanager:us-east-1:123456789012:secret:*"),
        ("ReadAndUpdateTheAllowedUsers", "*"),
        ("ReadAndUpdateTheAllowedUsers", "arn:aws:memorydb:us-east-1:123456789012:user/*"),
    ],
)
def test_a_wildcard_write_is_caught(template: dict[str, Any], sid: str, resource: str) -> None:
    statement = _statement(template, sid)
    _replace_statement(template, sid, {**statement, "Resource": resource})

    assert wildcard_write_problems(template, REQUIRED)


def test_a_wildcard_write_inside_a_condition_is_caught(template: dict[str, Any]) -> None:
    """The kind checkov misses: the statement only exists when a condition holds."""
    policies = template["Resources"]["RotationRole"]["Properties"]["Policies"]
    policies.append(
        {
            "Fn::If": [
                "HasVpc",
                {
                    "PolicyName": "sneaky",
                    "PolicyDocument": {
                        "Statement": [
                            {"Effect": "Allow", "Action": "memorydb:UpdateUser", "Resource": "*"}
                        ]
                    },
                },
                {"Ref": "AWS::NoValue"},
            ]
        }
    )

    assert wildcard_write_problems(template, REQUIRED) == []
    assert wildcard_write_problems(template, EVERYTHING_ON)


def test_the_bad_fixture_wildcard_writes_are_caught(bad_template: dict[str, Any]) -> None:
    problems = wildcard_write_problems(bad_template, {})

    assert any("secretsmanager:PutSecretValue on *" in problem for problem in problems)
    assert any("memorydb:UpdateUser on *" in problem for problem in problems)


# --- the scopes are exactly the given secrets and users ---------------------------------------


def scope_problems(template: dict[str, Any], secrets: str, users: str) -> list[str]:
    parameters = {"SecretArns": secrets, "RotatableUsers": users}
    statements = _allowed(template, parameters)
    expected_users = sorted(USER_ARN.format(name) for name in users.split(","))
    problems = []
    for action in ("memorydb:DescribeUsers", "memorydb:UpdateUser"):
        if (granted := _resources_for(action, statements)) != expected_users:
            problems.append(f"{action} on {granted}, expected {expected_users}")
    for action in sorted(a for a in CODE_ACTIONS if a.startswith("secretsmanager:")):
        if (granted := _resources_for(action, statements)) != sorted(secrets.split(",")):
            problems.append(f"{action} on {granted}")
    environment = Evaluator(template, parameters).resolve(
        template["Resources"]["RotationFunction"]["Properties"]["Environment"]["Variables"]
    )
    allowed = Settings.from_env(environment).allowed_users
    if allowed != frozenset(users.split(",")):
        problems.append(f"ROTATION_ALLOWED_USERS gives {allowed}, the role {users}")
    return problems


@pytest.mark.parametrize(
    ("secrets", "users"),
    [
        (SECRET_A, "app-user"),
        (f"{SECRET_A},{SECRET_B}", "app-user,reporting"),
        (SECRET_A, "a1,b2,c3"),
        (f"{SECRET_A},{SECRET_B}", "a1,b2,c3,d4,e5"),
    ],
)
def test_the_scopes_are_exactly_the_given_secrets_and_users(
    template: dict[str, Any], secrets: str, users: str
) -> None:
    assert scope_problems(template, secrets, users) == []


def _named_users(statement: dict[str, Any]) -> list[Any]:
    """The user ARNs of the named mode: the false branch of the statement's `IsFleet` Fn::If."""
    condition, _fleet, named = statement["Resource"]["Fn::If"]
    assert condition == "IsFleet"
    return list(named)


def test_a_user_left_out_of_the_role_is_caught(template: dict[str, Any]) -> None:
    users = _statement(template, "ReadAndUpdateTheAllowedUsers")
    condition, fleet, named = users["Resource"]["Fn::If"]
    named = [entry for entry in named if "HasUser3" not in str(entry)]
    users["Resource"] = {"Fn::If": [condition, fleet, named]}
    _replace_statement(template, "ReadAndUpdateTheAllowedUsers", users)

    assert scope_problems(template, SECRET_A, "app-user,reporting") == []
    assert scope_problems(template, SECRET_A, "a1,b2,c3")


def test_a_wrong_user_arn_is_caught(template: dict[str, Any]) -> None:
    """ElastiCache-style `user:NAME` instead of MemoryDB's `user/NAME`."""
    users = _statement(template, "ReadAndUpdateTheAllowedUsers")
    first = _named_users(users)[0]
    first["Fn::Sub"][0] = first["Fn::Sub"][0].replace("user/", "user:")
    _replace_statement(template, "ReadAndUpdateTheAllowedUsers", users)

    assert scope_problems(template, SECRET_A, "app-user")


def _pattern(template: dict[str, Any], name: str) -> re.Pattern[str]:
    return re.compile(template["Parameters"][name]["AllowedPattern"])


@pytest.mark.parametrize(
    "value", ["app-user", "a", "app-user,reporting", "a1,b2,c3,d4,e5", "App-User2"]
)
def test_the_user_parameter_accepts_up_to_five_names(template: dict[str, Any], value: str) -> None:
    assert _pattern(template, "RotatableUsers").fullmatch(value)
    assert Settings.from_env({"ROTATION_ALLOWED_USERS": value}).allowed_users == frozenset(
        value.split(",")
    )


@pytest.mark.parametrize(
    "value",
    ["default", "app,default", "default,app", "a1,b2,c3,d4,e5,f6", "app user", "app,", "1app"],
)
def test_the_user_parameter_refuses_what_the_role_cannot_scope(
    template: dict[str, Any], value: str
) -> None:
    assert not _pattern(template, "RotatableUsers").fullmatch(value)


def test_empty_names_are_accepted_only_as_fleet_mode(template: dict[str, Any]) -> None:
    """The patterns admit "" so that fleet mode can leave the names out; the named mode's rule
    then refuses a stack that gives neither names nor a fleet."""
    assert _pattern(template, "RotatableUsers").fullmatch("")
    assert _pattern(template, "SecretArns").fullmatch("")
    rule = template["Rules"]["NamedModeNeedsNames"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "FleetName"}, ""]}
    asserted = [assertion["Assert"] for assertion in rule["Assertions"]]
    for name in ("SecretArns", "RotatableUsers"):
        assert {"Fn::Not": [{"Fn::Equals": [{"Ref": name}, ""]}]} in asserted


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (SECRET_A, True),
        (f"{SECRET_A},{SECRET_B}", True),
        ("memorydb/app-user", False),
        (f"{SECRET_A}, {SECRET_B}", False),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:*", False),
    ],
)
def test_the_secret_parameter_takes_full_arns_only(
    template: dict[str, Any], value: str, accepted: bool
) -> None:
    assert bool(_pattern(template, "SecretArns").fullmatch(value)) is accepted


# --- KMS only through Secrets Manager ---------------------------------------------------------


def kms_problems(template: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    statements = [
        statement
        for statement in _allowed(template, parameters)
        if any(action.startswith("kms:") for action in statement["Action"])
    ]
    if not parameters.get("KmsKeyArn"):
        return [f"{s['_where']}: KMS without a customer-managed key" for s in statements]
    problems = [] if statements else ["no KMS permission for the customer-managed key"]
    for statement in statements:
        condition = statement.get("Condition", {}).get("StringEquals", {})
        if statement["Resource"] != [parameters["KmsKeyArn"]]:
            problems.append(f"KMS on {statement['Resource']}")
        if condition.get("kms:ViaService") != "secretsmanager.us-east-1.amazonaws.com":
            problems.append("KMS usable outside Secrets Manager (no kms:ViaService)")
        if sorted(condition.get("kms:EncryptionContext:SecretARN", [])) != sorted(
            parameters["SecretArns"].split(",")
        ):
            problems.append("KMS not bound to the given secrets' encryption context")
    return problems


@pytest.mark.parametrize("parameters", PARAMETER_SETS.values(), ids=PARAMETER_SETS.keys())
def test_kms_only_through_secrets_manager_for_the_given_key(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    assert kms_problems(template, parameters) == []


@pytest.mark.parametrize("drop", ["kms:ViaService", "kms:EncryptionContext:SecretARN"])
def test_a_kms_grant_without_its_conditions_is_caught(template: dict[str, Any], drop: str) -> None:
    statement = template["Resources"]["KmsThroughSecretsManagerPolicy"]["Properties"][
        "PolicyDocument"
    ]["Statement"][0]
    del statement["Condition"]["StringEquals"][drop]

    assert kms_problems(template, SINGLE_SECRET_SCHEDULED)


def test_optional_permissions_exist_only_when_their_feature_is_on(template: dict[str, Any]) -> None:
    minimal = {action for s in _allowed(template, REQUIRED) for action in s["Action"]}
    everything = {action for s in _allowed(template, EVERYTHING_ON) for action in s["Action"]}

    assert not {a for a in minimal if a.split(":")[0] in ("kms", "ec2", "xray")}
    assert {a.split(":")[0] for a in everything} >= {"kms", "ec2", "xray"}
    assert _resources_for("logs:PutLogEvents", _allowed(template, REQUIRED)) == [
        "<GetAtt LogGroup.Arn>"
    ]
    assert KMS_KEY in _resources_for("kms:Decrypt", _allowed(template, EVERYTHING_ON))


# --- the invoke permission -------------------------------------------------------------------


def permission_problems(template: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    evaluator = Evaluator(template, parameters)
    permissions = [
        evaluator.resolve(resource["Properties"])
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Permission"
        and resource["Properties"].get("Principal") == "secretsmanager.amazonaws.com"
    ]
    if len(permissions) != 1:
        return [f"{len(permissions)} invoke permissions for Secrets Manager, expected 1"]
    permission = permissions[0]
    problems = []
    if permission.get("SourceAccount") != "123456789012":
        problems.append("no aws:SourceAccount condition (SourceAccount: !Ref AWS::AccountId)")
    if permission.get("Action") != "lambda:InvokeFunction":
        problems.append(f"Action {permission.get('Action')}")
    if permission.get("FunctionName") != "<GetAtt RotationFunction.Arn>":
        problems.append(f"FunctionName {permission.get('FunctionName')}")
    secrets = parameters.get("SecretArns", "").split(",")
    if len(secrets) == 1 and permission.get("SourceArn") != secrets[0]:
        problems.append("one secret served, but no aws:SourceArn condition for it")
    if len(secrets) > 1 and "SourceArn" in permission:
        problems.append("several secrets served, but SourceArn names one")
    return problems


@pytest.mark.parametrize("parameters", PARAMETER_SETS.values(), ids=PARAMETER_SETS.keys())
def test_the_invoke_permission_names_the_calling_account(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    assert permission_problems(template, parameters) == []


@pytest.mark.parametrize("drop", ["SourceAccount", "SourceArn"])
def test_an_invoke_permission_without_its_conditions_is_caught(
    template: dict[str, Any], drop: str
) -> None:
    del template["Resources"]["RotationInvokePermission"]["Properties"][drop]

    assert permission_problems(template, REQUIRED)


def test_the_bad_fixture_invoke_permission_is_caught(bad_template: dict[str, Any]) -> None:
    assert permission_problems(bad_template, {})


@pytest.mark.parametrize("parameters", PARAMETER_SETS.values(), ids=PARAMETER_SETS.keys())
def test_tagging_is_limited_to_the_owner_tag_and_discovery_to_acls_and_clusters(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    statements = _allowed(template, parameters)
    tagging = [s for s in statements if "memorydb:TagResource" in s["Action"]]
    assert tagging
    for statement in tagging:
        keys = statement["Condition"]["ForAllValues:StringLike"]["aws:TagKeys"]
        assert keys == ["memorydb-rotation:secret", "memorydb-rotation:claim:*"]
        assert "memorydb:UntagResource" in statement["Action"]
        assert all(":user/" in resource for resource in statement["Resource"])
    for action, kind in (
        ("memorydb:DescribeAcls", ":acl/"),
        ("memorydb:DescribeClusters", ":cluster/"),
    ):
        resources = _resources_for(action, statements)
        assert resources
        assert all(kind in r or ":acl/" in r or ":cluster/" in r for r in resources)
        assert "*" not in resources
