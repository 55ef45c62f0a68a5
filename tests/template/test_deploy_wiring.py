"""How template.yaml wires the function to Secrets Manager and to people: the schedule, the
failure alarms and the outputs the next step needs."""

from __future__ import annotations

from typing import Any

import pytest

from .cfn import (
    EVERYTHING_ON,
    REQUIRED,
    SECRET_A,
    SECRET_B,
    SINGLE_SECRET_SCHEDULED,
    Evaluator,
)

SCHEDULE = "RotationSchedule"


def schedule_problems(template: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    """A schedule exists exactly when one secret and an expression are given, names the function
    and the expression, and waits for the invoke permission."""
    evaluator = Evaluator(template, parameters)
    schedules = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::SecretsManager::RotationSchedule"
        and evaluator.resource_exists(logical_id)
    ]
    wanted = len(parameters["SecretArns"].split(",")) == 1 and bool(
        parameters.get("RotationScheduleExpression")
    )
    if len(schedules) != int(wanted):
        return [f"{len(schedules)} rotation schedules, expected {int(wanted)}"]
    if not wanted:
        return []
    resource = template["Resources"][schedules[0]]
    properties = evaluator.resolve(resource["Properties"])
    problems = []
    if "RotationInvokePermission" not in resource.get("DependsOn", []):
        problems.append("the schedule does not wait for the invoke permission")
    if properties.get("SecretId") != parameters["SecretArns"]:
        problems.append(f"SecretId {properties.get('SecretId')}")
    if properties.get("RotationLambdaARN") != "<GetAtt RotationFunction.Arn>":
        problems.append(f"RotationLambdaARN {properties.get('RotationLambdaARN')}")
    rules = properties.get("RotationRules", {})
    if rules.get("ScheduleExpression") != parameters["RotationScheduleExpression"]:
        problems.append(f"ScheduleExpression {rules.get('ScheduleExpression')}")
    if rules.get("Duration") != parameters.get("RotationWindow"):
        problems.append(f"Duration {rules.get('Duration')}")
    return problems


@pytest.mark.parametrize(
    "parameters",
    [
        REQUIRED,
        SINGLE_SECRET_SCHEDULED,
        {**REQUIRED, "RotationScheduleExpression": "cron(0 3 ? * SUN *)"},
        {**EVERYTHING_ON, "RotationScheduleExpression": "rate(30 days)"},
    ],
    ids=["none asked", "one secret", "no window", "two secrets"],
)
def test_the_schedule_exists_only_for_a_single_secret(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    assert schedule_problems(template, parameters) == []


@pytest.mark.parametrize("mutation", ["no condition", "no depends-on", "wrong lambda"])
def test_a_miswired_schedule_is_caught(template: dict[str, Any], mutation: str) -> None:
    schedule = template["Resources"][SCHEDULE]
    if mutation == "no condition":
        del schedule["Condition"]
        parameters = {**EVERYTHING_ON, "RotationScheduleExpression": "rate(30 days)"}
    elif mutation == "no depends-on":
        del schedule["DependsOn"]
        parameters = SINGLE_SECRET_SCHEDULED
    else:
        schedule["Properties"]["RotationLambdaARN"] = "arn:aws:lambda:us-east-1:1:function:other"
        parameters = SINGLE_SECRET_SCHEDULED

    assert schedule_problems(template, parameters)


def alarm_problems(template: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    evaluator = Evaluator(template, parameters)
    resources = {
        logical_id: evaluator.resolve(resource)
        for logical_id, resource in template["Resources"].items()
        if evaluator.resource_exists(logical_id)
    }
    by_type: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for logical_id, resource in resources.items():
        by_type.setdefault(resource["Type"], []).append(
            (logical_id, resource.get("Properties", {}))
        )
    problems = []
    topics = [f"<Ref {logical_id}>" for logical_id, _ in by_type.get("AWS::SNS::Topic", [])]
    if len(topics) != 1:
        return [f"{len(topics)} topics"]
    rules = by_type.get("AWS::Events::Rule", [])
    secrets = sorted(parameters["SecretArns"].split(","))
    matching = [
        properties
        for _, properties in rules
        if properties["EventPattern"].get("source") == ["aws.secretsmanager"]
        and set(properties["EventPattern"]["detail"]["eventName"])
        >= {"RotationFailed", "RotationAbandoned"}
        and sorted(properties["EventPattern"]["detail"]["additionalEventData"]["SecretId"])
        == secrets
        and [target["Arn"] for target in properties["Targets"]] == topics
    ]
    if len(matching) != 1:
        problems.append("no rule sends the served secrets' RotationFailed/Abandoned to the topic")
    alarms = [
        properties
        for _, properties in by_type.get("AWS::CloudWatch::Alarm", [])
        if properties.get("MetricName") == "Errors"
        and properties.get("Namespace") == "AWS/Lambda"
        and properties.get("Dimensions")
        == [{"Name": "FunctionName", "Value": "<Ref RotationFunction>"}]
        and properties.get("AlarmActions") == topics
    ]
    if len(alarms) != 1:
        problems.append("no alarm on the function's Errors notifies the topic")
    policies = by_type.get("AWS::SNS::TopicPolicy", [])
    publishers = {
        statement["Principal"]["Service"]: statement.get("Condition", {})
        for _, policy in policies
        for statement in policy["PolicyDocument"]["Statement"]
    }
    for service in ("events.amazonaws.com", "cloudwatch.amazonaws.com"):
        if "aws:SourceArn" not in publishers.get(service, {}).get("ArnEquals", {}):
            problems.append(f"{service} may not publish, or not only for this stack's source")
    subscriptions = by_type.get("AWS::SNS::Subscription", [])
    if bool(parameters.get("AlarmEmail")) != bool(subscriptions):
        problems.append("the email subscription does not follow AlarmEmail")
    return problems


@pytest.mark.parametrize(
    "parameters",
    [REQUIRED, EVERYTHING_ON, {"SecretArns": f"{SECRET_A},{SECRET_B}", "RotatableUsers": "a"}],
    ids=["one secret", "everything on", "two secrets"],
)
def test_failures_reach_the_alarm_topic(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    assert alarm_problems(template, parameters) == []


@pytest.mark.parametrize("mutation", ["rule", "alarm", "policy", "subscription"])
def test_a_broken_alarm_path_is_caught(template: dict[str, Any], mutation: str) -> None:
    resources = template["Resources"]
    if mutation == "rule":
        resources["RotationFailedRule"]["Properties"]["EventPattern"]["detail"]["eventName"] = [
            "RotationSucceeded"
        ]
    elif mutation == "alarm":
        resources["FunctionErrorsAlarm"]["Properties"]["MetricName"] = "Throttles"
    elif mutation == "policy":
        resources["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"].pop()
    else:
        del resources["AlarmEmailSubscription"]["Condition"]

    assert alarm_problems(template, REQUIRED)


def test_the_outputs_the_next_step_needs(template: dict[str, Any]) -> None:
    outputs = Evaluator(template, REQUIRED).resolve(template["Outputs"])

    assert outputs["RotationFunctionArn"]["Value"] == "<GetAtt RotationFunction.Arn>"
    assert outputs["AlarmTopicArn"]["Value"] == "<Ref AlarmTopic>"
    assert outputs["RotationRoleArn"]["Value"] == "<GetAtt RotationRole.Arn>"
    assert outputs["LogGroupName"]["Value"] == "<Ref LogGroup>"


@pytest.mark.parametrize(
    ("subnets", "groups", "expect_vpc"),
    [("", "", False), ("subnet-0a1b2c3d,subnet-4e5f6a7b", "sg-0123abcd", True)],
)
def test_the_vpc_is_applied_only_when_given(
    template: dict[str, Any], subnets: str, groups: str, expect_vpc: bool
) -> None:
    parameters = {**REQUIRED, "SubnetIds": subnets, "SecurityGroupIds": groups}
    function = Evaluator(template, parameters).resolve(
        template["Resources"]["RotationFunction"]["Properties"]
    )

    assert ("VpcConfig" in function) is expect_vpc
    if expect_vpc:
        assert function["VpcConfig"] == {
            "SubnetIds": subnets.split(","),
            "SecurityGroupIds": groups.split(","),
            "Ipv6AllowedForDualStack": False,
        }


@pytest.mark.parametrize("allowed", ["false", "true"])
def test_ipv6_is_allowed_only_when_asked(template: dict[str, Any], allowed: str) -> None:
    """IpDiscovery=ipv6 clusters answer with IPv6 node addresses: the function then needs
    Ipv6AllowedForDualStack, which is off unless the parameter says otherwise."""
    parameters = {
        **REQUIRED,
        "SubnetIds": "subnet-0a1b2c3d",
        "SecurityGroupIds": "sg-0123abcd",
        "Ipv6AllowedForDualStack": allowed,
    }
    function = Evaluator(template, parameters).resolve(
        template["Resources"]["RotationFunction"]["Properties"]
    )

    assert function["VpcConfig"]["Ipv6AllowedForDualStack"] is (allowed == "true")
    rule = template["Rules"]["Ipv6NeedsSubnets"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Ipv6AllowedForDualStack"}, "true"]}


def test_subnets_and_security_groups_are_required_together(template: dict[str, Any]) -> None:
    rules = template["Rules"]

    assert rules["SubnetsNeedSecurityGroups"]["RuleCondition"] == {
        "Fn::Not": [{"Fn::EachMemberEquals": [{"Ref": "SubnetIds"}, ""]}]
    }
    assert rules["SecurityGroupsNeedSubnets"]["RuleCondition"] == {
        "Fn::Not": [{"Fn::EachMemberEquals": [{"Ref": "SecurityGroupIds"}, ""]}]
    }
