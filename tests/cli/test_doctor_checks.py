"""Doctor's checks whose APIs moto lacks or answers laxly, pinned with botocore's Stubber against
the real request shapes: iam:SimulatePrincipalPolicy, KMS key policy, EC2 security groups, VPC
endpoints and routes, CloudWatch alarms, the secret's resource policy, and what happens when a
read is denied (cannot-check, never pass)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from memorydb_rotation_cli.doctor import (
    CANNOT,
    FAIL,
    PASS,
    SECRET_ACTIONS,
    TOPOLOGY_ACTIONS,
    USER_ACTIONS,
    Doctor,
)
from memorydb_rotation_cli.secret_policy import recommended_policy
from memorydb_rotation_cli.state import Function, Inspection, Inspector, Secret, Version
from rotation.adapters.scheduler import schedule_name
from rotation.models import Cluster, Credentials, Endpoint, MemoryDBUser, Node, Topology
from tests.cli.conftest import Stubs

REGION = "eu-west-1"
ACCOUNT = "123456789012"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:memorydb/app-AbCdEf"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/rotation-role"
USER_ARN = f"arn:aws:memorydb:{REGION}:{ACCOUNT}:user/app"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
HOST = "clustercfg.c1.abc123.memorydb.eu-west-1.amazonaws.com"


def inspection(*, kms_key: str | None = None, vpc: dict[str, Any] | None = None) -> Inspection:
    document = {"username": "app", "password": "x" * 32, "host": HOST, "port": 6379}
    version = Version("v1", ("AWSCURRENT",), None, Credentials.parse(json.dumps(document)))
    secret = Secret(
        arn=SECRET,
        name="memorydb/app",
        rotation_enabled=True,
        function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:rotation",
        schedule={},
        last_rotated=None,
        next_rotation=None,
        kms_key_id=kms_key,
        versions=[version],
    )
    endpoint = Endpoint(HOST, 6379, True)
    node = Node("c1-0001-001", "c1", Endpoint("c1-0001-001." + HOST[10:], 6379, True))
    topology = Topology("app", ("app-acl",), (Cluster("c1", "app-acl", endpoint, True, (node,)),))
    user = MemoryDBUser(
        name="app",
        arn=USER_ARN,
        status="active",
        auth_type="password",
        password_count=1,
        acl_names=("app-acl",),
        access_string="on ~* +@all",
    )
    return Inspection(secret=secret, user=user, topology=topology)


SCHEDULER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/drop-scheduler"
DROP_AFTER = {
    "OLD_PASSWORD_POLICY": "drop-after",
    "SCHEDULE_GROUP_NAME": "drops",
    "SCHEDULER_ROLE_ARN": SCHEDULER_ROLE,
}


def doctor(
    stubs: Stubs,
    found: Inspection,
    *,
    vpc: dict[str, Any] | None = None,
    environment: dict[str, str] | None = None,
) -> Doctor:
    checker = Doctor(Inspector(stubs.aws), found, None)
    checker.function = Function(
        arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:rotation",
        name="rotation",
        timeout=900,
        environment=environment or {},
        role=ROLE,
        vpc=vpc or {},
        log_group="/aws/lambda/rotation",
    )
    return checker


def _simulated(
    actions: tuple[str, ...], resource: str, denied: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {
        "EvaluationResults": [
            {
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": "implicitDeny" if action in denied else "allowed",
            }
            for action in actions
        ],
        "IsTruncated": False,
    }


def _expect_simulations(
    stubs: Stubs, denied: tuple[str, ...] = (), *, drop_after: bool = False
) -> None:
    iam = stubs("iam")
    tag_keys = [
        {
            "ContextKeyName": "aws:TagKeys",
            "ContextKeyValues": [
                "memorydb-rotation:secret",
                "memorydb-rotation:claim:00000000000000000000",
            ],
            "ContextKeyType": "stringList",
        }
    ]
    calls: list[tuple[tuple[str, ...], str, list[dict[str, Any]] | None]] = [
        (SECRET_ACTIONS, SECRET, None),
        (USER_ACTIONS, USER_ARN, tag_keys),
    ]
    if drop_after:
        schedule = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/drops/" + schedule_name(
            "secret", "token"
        )
        passed = [
            {
                "ContextKeyName": "iam:PassedToService",
                "ContextKeyValues": ["scheduler.amazonaws.com"],
                "ContextKeyType": "string",
            }
        ]
        calls += [
            (("scheduler:CreateSchedule",), schedule, None),
            (("iam:PassRole",), SCHEDULER_ROLE, passed),
        ]
    calls += [
        (TOPOLOGY_ACTIONS, f"arn:aws:memorydb:{REGION}:{ACCOUNT}:acl/app-acl", None),
        (TOPOLOGY_ACTIONS, f"arn:aws:memorydb:{REGION}:{ACCOUNT}:cluster/c1", None),
    ]
    for actions, resource, context in calls:
        expected: dict[str, Any] = {
            "PolicySourceArn": ROLE,
            "ActionNames": list(actions),
            "ResourceArns": [resource],
        }
        if context:
            expected["ContextEntries"] = context
        iam.add_response(
            "simulate_principal_policy", _simulated(actions, resource, denied), expected
        )


def test_role_permissions_pass_when_every_call_is_allowed(stubs: Stubs) -> None:
    _expect_simulations(stubs)
    check = doctor(stubs, inspection()).role_permissions()
    assert check.result == PASS


def test_role_permissions_fail_naming_each_denied_call(stubs: Stubs) -> None:
    _expect_simulations(stubs, denied=("memorydb:UpdateUser", "secretsmanager:PutSecretValue"))
    check = doctor(stubs, inspection()).role_permissions()
    assert check.result == FAIL
    assert f"memorydb:UpdateUser on {USER_ARN}" in check.detail
    assert f"secretsmanager:PutSecretValue on {SECRET}" in check.detail
    assert check.fix


def test_the_role_may_untag_the_claim_tags(stubs: Stubs) -> None:
    assert "memorydb:UntagResource" in USER_ACTIONS
    _expect_simulations(stubs, denied=("memorydb:UntagResource",))
    check = doctor(stubs, inspection()).role_permissions()
    assert check.result == FAIL
    assert f"memorydb:UntagResource on {USER_ARN}" in check.detail


@pytest.mark.parametrize("denied", [(), ("scheduler:CreateSchedule", "iam:PassRole")])
def test_under_drop_after_the_role_may_schedule_and_pass_the_schedulers_role(
    stubs: Stubs, denied: tuple[str, ...]
) -> None:
    _expect_simulations(stubs, denied, drop_after=True)
    check = doctor(stubs, inspection(), environment=DROP_AFTER).role_permissions()
    if not denied:
        assert check.result == PASS
        return
    assert check.result == FAIL
    assert "scheduler:CreateSchedule on arn:aws:scheduler:" in check.detail
    assert f"iam:PassRole on {SCHEDULER_ROLE}" in check.detail


def test_role_permissions_follow_truncated_answers(stubs: Stubs) -> None:
    iam = stubs("iam")
    first = _simulated(SECRET_ACTIONS[:2], SECRET)
    first.update(IsTruncated=True, Marker="m1")
    request = {
        "PolicySourceArn": ROLE,
        "ActionNames": list(SECRET_ACTIONS),
        "ResourceArns": [SECRET],
    }
    iam.add_response("simulate_principal_policy", first, request)
    iam.add_response(
        "simulate_principal_policy",
        _simulated(SECRET_ACTIONS[2:], SECRET, denied=SECRET_ACTIONS[2:]),
        {**request, "Marker": "m1"},
    )
    denied = doctor(stubs, inspection())._simulate(SECRET_ACTIONS, [SECRET], None)
    assert denied == [f"{action} on {SECRET}" for action in SECRET_ACTIONS[2:]]


def test_a_denied_simulation_cannot_check_and_never_passes(stubs: Stubs) -> None:
    stubs("iam").add_client_error(
        "simulate_principal_policy", "AccessDenied", "not authorized", http_status_code=403
    )
    checks = {c.id: c for c in doctor(stubs, inspection()).checks(only=["role-permissions"])}
    assert checks["role-permissions"].result == CANNOT
    assert "access denied" in checks["role-permissions"].detail


def test_kms_customer_key_with_root_policy_and_allowed_decrypt(stubs: Stubs) -> None:
    kms = stubs("kms")
    kms.add_response(
        "describe_key",
        {"KeyMetadata": {"KeyId": "k", "Arn": KEY, "KeyManager": "CUSTOMER"}},
        {"KeyId": KEY},
    )
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
    }
    kms.add_response(
        "get_key_policy", {"Policy": json.dumps(policy)}, {"KeyId": KEY, "PolicyName": "default"}
    )
    stubs("iam").add_response(
        "simulate_principal_policy",
        _simulated(("kms:Decrypt", "kms:GenerateDataKey"), KEY),
        {
            "PolicySourceArn": ROLE,
            "ActionNames": ["kms:Decrypt", "kms:GenerateDataKey"],
            "ResourceArns": [KEY],
            "ContextEntries": [
                {
                    "ContextKeyName": "kms:ViaService",
                    "ContextKeyValues": [f"secretsmanager.{REGION}.amazonaws.com"],
                    "ContextKeyType": "string",
                },
                # Secrets Manager's encryption context: the template's condition names it.
                {
                    "ContextKeyName": "kms:EncryptionContext:SecretARN",
                    "ContextKeyValues": [SECRET],
                    "ContextKeyType": "string",
                },
            ],
        },
    )
    assert doctor(stubs, inspection(kms_key=KEY)).kms_key().result == PASS


def test_kms_key_policy_that_admits_neither_role_nor_account_fails(stubs: Stubs) -> None:
    kms = stubs("kms")
    kms.add_response(
        "describe_key",
        {"KeyMetadata": {"KeyId": "k", "Arn": KEY, "KeyManager": "CUSTOMER"}},
        {"KeyId": KEY},
    )
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/someone-else"},
                "Action": "kms:Decrypt",
                "Resource": "*",
            }
        ]
    }
    kms.add_response(
        "get_key_policy", {"Policy": json.dumps(policy)}, {"KeyId": KEY, "PolicyName": "default"}
    )
    check = doctor(stubs, inspection(kms_key=KEY)).kms_key()
    assert check.result == FAIL
    assert ROLE in (check.fix or "")


VPC = {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-fn"], "VpcId": "vpc-1"}


def _expect_port(stubs: Stubs, ingress_port: int) -> None:
    ec2 = stubs("ec2")
    ec2.add_response(
        "describe_subnets",
        {"Subnets": [{"SubnetId": "subnet-1", "CidrBlock": "10.0.1.0/24", "VpcId": "vpc-1"}]},
        {"SubnetIds": ["subnet-1"]},
    )
    ec2.add_response(
        "describe_security_groups",
        {
            "SecurityGroups": [
                {
                    "GroupId": "sg-fn",
                    "IpPermissionsEgress": [
                        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
                    ],
                }
            ]
        },
        {"GroupIds": ["sg-fn"]},
    )
    stubs("memorydb").add_response(
        "describe_clusters",
        {"Clusters": [{"Name": "c1", "SecurityGroups": [{"SecurityGroupId": "sg-db"}]}]},
        {"ClusterName": "c1"},
    )
    ec2.add_response(
        "describe_security_groups",
        {
            "SecurityGroups": [
                {
                    "GroupId": "sg-db",
                    "IpPermissions": [
                        {
                            "IpProtocol": "tcp",
                            "FromPort": ingress_port,
                            "ToPort": ingress_port,
                            "UserIdGroupPairs": [{"GroupId": "sg-fn"}],
                        }
                    ],
                }
            ]
        },
        {"GroupIds": ["sg-db"]},
    )


def test_cluster_port_admitted_from_the_functions_group(stubs: Stubs) -> None:
    _expect_port(stubs, 6379)
    assert doctor(stubs, inspection(), vpc=VPC).network_port().result == PASS


def test_cluster_port_not_admitted_fails(stubs: Stubs) -> None:
    _expect_port(stubs, 6380)
    check = doctor(stubs, inspection(), vpc=VPC).network_port()
    assert check.result == FAIL
    assert "do not admit the function on 6379" in check.detail


def test_a_function_outside_a_vpc_cannot_reach_the_cluster(stubs: Stubs) -> None:
    assert doctor(stubs, inspection()).network_port().result == FAIL


def _endpoints(stubs: Stubs, services: list[str]) -> None:
    stubs("ec2").add_response(
        "describe_subnets",
        {"Subnets": [{"SubnetId": "subnet-1", "CidrBlock": "10.0.1.0/24", "VpcId": "vpc-1"}]},
        {"SubnetIds": ["subnet-1"]},
    )
    stubs("ec2").add_response(
        "describe_vpc_endpoints",
        {
            "VpcEndpoints": [
                {
                    "ServiceName": s,
                    "VpcEndpointType": "Interface",
                    "PrivateDnsEnabled": True,
                    "State": "available",
                }
                for s in services
            ]
        },
        {"Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]}]},
    )


def test_apis_through_interface_endpoints(stubs: Stubs) -> None:
    _endpoints(
        stubs, [f"com.amazonaws.{REGION}.secretsmanager", f"com.amazonaws.{REGION}.memory-db"]
    )
    assert doctor(stubs, inspection(), vpc=VPC).network_apis().result == PASS


@pytest.mark.parametrize(("scheduler", "expected"), [(True, PASS), (False, FAIL)])
def test_under_drop_after_the_scheduler_api_needs_an_endpoint_or_nat(
    stubs: Stubs, scheduler: bool, expected: str
) -> None:
    services = [f"com.amazonaws.{REGION}.secretsmanager", f"com.amazonaws.{REGION}.memory-db"]
    _endpoints(stubs, services + ([f"com.amazonaws.{REGION}.scheduler"] if scheduler else []))
    if not scheduler:
        stubs("ec2").add_response(
            "describe_route_tables",
            {"RouteTables": [{"Associations": [{"SubnetId": "subnet-1"}], "Routes": []}]},
            {"Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]}]},
        )
    check = doctor(stubs, inspection(), vpc=VPC, environment=DROP_AFTER).network_apis()
    assert check.result == expected
    if expected == FAIL:
        assert "EventBridge Scheduler" in check.detail
        assert check.fix
        assert "com.amazonaws.REGION.scheduler" in check.fix


@pytest.mark.parametrize(("nat", "expected"), [(True, PASS), (False, FAIL)])
def test_apis_through_a_nat_route_or_not_at_all(stubs: Stubs, nat: bool, expected: str) -> None:
    _endpoints(stubs, [f"com.amazonaws.{REGION}.secretsmanager"])
    route: dict[str, Any] = {"DestinationCidrBlock": "0.0.0.0/0"}
    route.update({"NatGatewayId": "nat-1"} if nat else {"GatewayId": "local"})
    stubs("ec2").add_response(
        "describe_route_tables",
        {"RouteTables": [{"Associations": [{"SubnetId": "subnet-1"}], "Routes": [route]}]},
        {"Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]}]},
    )
    check = doctor(stubs, inspection(), vpc=VPC).network_apis()
    assert check.result == expected
    if expected == FAIL:
        assert "MemoryDB" in check.detail


def _alarms(stubs: Stubs, errors: list[dict[str, Any]], steps: list[dict[str, Any]]) -> None:
    cloudwatch = stubs("cloudwatch")
    cloudwatch.add_response(
        "describe_alarms_for_metric",
        {"MetricAlarms": errors},
        {
            "MetricName": "Errors",
            "Namespace": "AWS/Lambda",
            "Dimensions": [{"Name": "FunctionName", "Value": "rotation"}],
        },
    )
    cloudwatch.add_response(
        "describe_alarms_for_metric",
        {"MetricAlarms": steps},
        {"MetricName": "StepFailed", "Namespace": "MemoryDBRotation"},
    )


MINE = [{"Name": "FunctionName", "Value": "rotation"}]


def test_failure_alarm_found(stubs: Stubs) -> None:
    found = {"AlarmName": "stack-FunctionErrors", "ActionsEnabled": True, "Dimensions": MINE}
    _alarms(stubs, [found], [])
    assert doctor(stubs, inspection()).failure_alarm().result == PASS


def test_an_alarm_on_another_functions_errors_does_not_count(stubs: Stubs) -> None:
    other = [{"Name": "FunctionName", "Value": "another"}]
    _alarms(stubs, [{"AlarmName": "other", "ActionsEnabled": True, "Dimensions": other}], [])
    assert doctor(stubs, inspection()).failure_alarm().result == FAIL


def test_no_failure_alarm_or_only_disabled_ones_fails(stubs: Stubs) -> None:
    _alarms(stubs, [], [{"AlarmName": "muted", "ActionsEnabled": False}])
    assert doctor(stubs, inspection()).failure_alarm().result == FAIL


ADMIN = f"arn:aws:iam::{ACCOUNT}:role/admin"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (None, FAIL),
        ({"Statement": [{"Effect": "Allow", "Action": "*", "Principal": "*"}]}, FAIL),
        # Denies writes to everyone but the role, yet forgets the policy calls themselves.
        (
            {
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": [
                            "secretsmanager:PutSecretValue",
                            "secretsmanager:UpdateSecretVersionStage",
                            "secretsmanager:UpdateSecret",
                        ],
                        "Resource": "*",
                        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": ROLE}},
                    }
                ]
            },
            FAIL,
        ),
        (recommended_policy(ROLE, [ADMIN]), PASS),
    ],
)
def test_resource_policy_limits_writers(
    stubs: Stubs, policy: dict[str, Any] | None, expected: str
) -> None:
    answer: dict[str, Any] = {"ARN": SECRET, "Name": "memorydb/app"}
    if policy is not None:
        answer["ResourcePolicy"] = json.dumps(policy)
    stubs("secretsmanager").add_response("get_resource_policy", answer, {"SecretId": SECRET})
    assert doctor(stubs, inspection()).resource_policy().result == expected


def test_an_unreadable_function_leaves_its_checks_unchecked(stubs: Stubs) -> None:
    stubs("lambda").add_client_error(
        "get_function_configuration", "AccessDeniedException", "no", http_status_code=403
    )
    checker = Doctor(Inspector(stubs.aws), inspection(), None)
    results = {
        c.id: c
        for c in checker.checks(
            only=["function-settings", "function-timeout", "network-cluster-port", "failure-alarm"]
        )
    }
    assert {c.result for c in results.values()} == {CANNOT}
    assert "GetFunctionConfiguration: access denied" in results["function-timeout"].detail
