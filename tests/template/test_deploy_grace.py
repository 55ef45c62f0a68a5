"""OldPasswordPolicy=drop-after in the template: the schedule group, the scheduler role that may
invoke only this function, CreateSchedule in that group only, PassRole for that role only and only
to Scheduler, nothing of it unless drop-after, and Secrets Manager still the only principal in the
function's resource policy. Each check has a partner that breaks a copy and expects a complaint.
"""

from __future__ import annotations

from typing import Any

import pytest

from .cfn import DROP_AFTER, REQUIRED, Evaluator, iam_statements

GROUP_ARN = "arn:aws:scheduler:us-east-1:123456789012:schedule/<Ref DropScheduleGroup>/*"
ROLE = "<GetAtt DropSchedulerRole.Arn>"
FUNCTION = "<GetAtt RotationFunction.Arn>"
DROP_RESOURCES = (
    "DropScheduleGroup",
    "DropSchedulePolicy",
    "DropSchedulerRole",
    "DropSchedulerInvokePolicy",
)


def _statements(template: dict[str, Any], parameters: dict[str, str]) -> list[dict[str, Any]]:
    return [
        s
        for s in iam_statements(template, Evaluator(template, parameters))
        if s.get("Effect") == "Allow"
    ]


def _granting(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in statements if action in s["Action"]]


def grace_problems(template: dict[str, Any]) -> list[str]:  # noqa: PLR0912 - one check a branch
    problems = []
    statements = _statements(template, DROP_AFTER)
    evaluator = Evaluator(template, DROP_AFTER)
    resources = template["Resources"]

    create = _granting(statements, "scheduler:CreateSchedule")
    if [s["Resource"] for s in create] != [[GROUP_ARN]]:
        problems.append(f"CreateSchedule on {[s['Resource'] for s in create]}, not the group")
    pass_role = _granting(statements, "iam:PassRole")
    if [s["Resource"] for s in pass_role] != [[ROLE]]:
        problems.append(f"PassRole on {[s['Resource'] for s in pass_role]}, not the role")
    for statement in pass_role:
        passed = statement.get("Condition", {}).get("StringEquals", {})
        if passed.get("iam:PassedToService") != "scheduler.amazonaws.com":
            problems.append("PassRole without iam:PassedToService = scheduler.amazonaws.com")
    if any(s["_where"] != "DropSchedulePolicy" for s in create + pass_role):
        problems.append("scheduling permissions outside DropSchedulePolicy")
    role_policies = evaluator.resolve(resources["RotationRole"]["Properties"]["ManagedPolicyArns"])
    if "<Ref DropSchedulePolicy>" not in role_policies:
        problems.append("the function's role does not carry DropSchedulePolicy")

    invoke = _granting(statements, "lambda:InvokeFunction")
    if sorted(r for s in invoke for r in s["Resource"]) != [FUNCTION, f"{FUNCTION}:*"]:
        problems.append(f"InvokeFunction on {[s['Resource'] for s in invoke]}")
    for statement in invoke:
        where = resources[statement["_where"]]
        if where["Type"] != "AWS::IAM::Policy" or where["Properties"]["Roles"] != [
            {"Ref": "DropSchedulerRole"}
        ]:
            problems.append(f"InvokeFunction granted by {statement['_where']} to another role")
        if len(statement["Action"]) != 1:
            problems.append(f"the scheduler role may also {statement['Action']}")
    others = [
        s["Action"]
        for s in statements
        if resources[s["_where"]].get("Properties", {}).get("Roles")
        == [{"Ref": "DropSchedulerRole"}]
        and s["Action"] != ["lambda:InvokeFunction"]
    ]
    if others:
        problems.append(f"the scheduler role may also {others}")

    trust = evaluator.resolve(resources["DropSchedulerRole"]["Properties"])[
        "AssumeRolePolicyDocument"
    ]["Statement"]
    if [t["Principal"] for t in trust] != [{"Service": "scheduler.amazonaws.com"}]:
        problems.append(f"the scheduler role trusts {[t['Principal'] for t in trust]}")
    for t in trust:
        if t.get("Condition", {}).get("StringEquals", {}).get("aws:SourceAccount") != (
            "123456789012"
        ):
            problems.append("the scheduler role's trust has no aws:SourceAccount condition")
        group = "<Ref DropScheduleGroup>"  # the evaluator keeps Refs to resources symbolic
        source = t.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")
        if not (
            isinstance(source, str)
            and source.startswith("arn:aws:scheduler:")
            and source.endswith(f":schedule-group/{group}")
            and "*" not in source
        ):
            problems.append(
                "the scheduler role's trust is not bound to the stack's schedule group "
                f"(aws:SourceArn {source!r}): any schedule in the account could assume it"
            )

    permissions = [
        r["Properties"].get("Principal")
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission"
    ]
    if permissions != ["secretsmanager.amazonaws.com"]:
        problems.append(f"the function's resource policy admits {permissions}")

    variables = evaluator.resolve(
        resources["RotationFunction"]["Properties"]["Environment"]["Variables"]
    )
    expected = {"SCHEDULE_GROUP_NAME": "<Ref DropScheduleGroup>", "SCHEDULER_ROLE_ARN": ROLE}
    for name, value in expected.items():
        if variables.get(name) != value:
            problems.append(f"{name} is {variables.get(name)!r}, not {value}")

    off = Evaluator(template, REQUIRED)
    problems += [f"{r} exists without drop-after" for r in DROP_RESOURCES if off.resource_exists(r)]
    problems += [f"{r} is missing with drop-after" for r in DROP_RESOURCES if r not in resources]
    actions = {a for s in _statements(template, REQUIRED) for a in s["Action"]}
    problems += [
        f"{a} granted without drop-after"
        for a in ("scheduler:CreateSchedule", "iam:PassRole", "lambda:InvokeFunction")
        if a in actions
    ]
    return problems


def test_the_scheduler_permissions_are_scoped(template: dict[str, Any]) -> None:
    assert grace_problems(template) == []


def _policy(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = template["Resources"][logical_id]["Properties"][
        "PolicyDocument"
    ]["Statement"]
    return statements


def _break(template: dict[str, Any], mutation: str) -> None:  # noqa: PLR0912 - one per mutation
    resources = template["Resources"]
    schedule, pass_role = _policy(template, "DropSchedulePolicy")
    if mutation == "CreateSchedule in every group":
        schedule["Resource"] = {
            "Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/*"
        }
    elif mutation == "PassRole on any role":
        pass_role["Resource"] = "*"
    elif mutation == "PassRole to any service":
        del pass_role["Condition"]
    elif mutation == "the scheduler role may invoke anything":
        _policy(template, "DropSchedulerInvokePolicy")[0]["Resource"] = "*"
    elif mutation == "the scheduler role may also read secrets":
        _policy(template, "DropSchedulerInvokePolicy")[0]["Action"] = [
            "lambda:InvokeFunction",
            "secretsmanager:GetSecretValue",
        ]
    elif mutation == "the scheduler role trusts events":
        trust = resources["DropSchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]
        trust["Statement"][0]["Principal"] = {"Service": "events.amazonaws.com"}
    elif mutation == "the trust has no account condition":
        trust = resources["DropSchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]
        del trust["Statement"][0]["Condition"]
    elif mutation == "the trust has no schedule-group condition":
        trust = resources["DropSchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]
        del trust["Statement"][0]["Condition"]["ArnEquals"]
    elif mutation == "the trust admits every group":
        trust = resources["DropSchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]
        trust["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"] = {
            "Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:"
            "schedule-group/*"
        }
    elif mutation == "a resource policy for Scheduler":
        resources["SchedulerInvokePermission"] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Fn::GetAtt": ["RotationFunction", "Arn"]},
                "Principal": "scheduler.amazonaws.com",
            },
        }
    elif mutation == "the group exists always":
        del resources["DropScheduleGroup"]["Condition"]
    elif mutation == "the role without the policy":
        managed = resources["RotationRole"]["Properties"]["ManagedPolicyArns"]
        managed.remove(
            {"Fn::If": ["IsDropAfter", {"Ref": "DropSchedulePolicy"}, {"Ref": "AWS::NoValue"}]}
        )
    elif mutation == "no role in the environment":
        variables = resources["RotationFunction"]["Properties"]["Environment"]["Variables"]
        del variables["SCHEDULER_ROLE_ARN"]
    else:
        raise AssertionError(mutation)


@pytest.mark.parametrize(
    "mutation",
    [
        "CreateSchedule in every group",
        "PassRole on any role",
        "PassRole to any service",
        "the scheduler role may invoke anything",
        "the scheduler role may also read secrets",
        "the scheduler role trusts events",
        "the trust has no account condition",
        "the trust has no schedule-group condition",
        "the trust admits every group",
        "a resource policy for Scheduler",
        "the group exists always",
        "the role without the policy",
        "no role in the environment",
    ],
)
def test_a_loosened_scheduler_permission_is_caught(template: dict[str, Any], mutation: str) -> None:
    _break(template, mutation)

    assert grace_problems(template)


def test_the_grace_parameter_defaults_to_the_model_and_covers_the_caching_client(
    template: dict[str, Any],
) -> None:
    from rotation.settings import DEFAULT_GRACE_SECONDS

    grace = template["Parameters"]["OldPasswordGraceSeconds"]
    assert grace["Default"] == DEFAULT_GRACE_SECONDS
    # aws-secretsmanager-caching refreshes at most every 3,600 s by default.
    assert DEFAULT_GRACE_SECONDS > 3600
    assert "drop-after" in template["Parameters"]["OldPasswordPolicy"]["AllowedValues"]
