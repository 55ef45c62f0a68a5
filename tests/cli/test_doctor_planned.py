"""`doctor --role/--subnets/--security-groups/--policy` before the function exists, on the served
sandbox: the role, network and KMS checks run against the planned deployment (IAM's
SimulatePrincipalPolicy as the sandbox evaluates it, EC2's subnets, security groups and
endpoints, the user's own cluster on real TLS nodes, a customer-managed key) and each says
"planned:" in its detail; each omission fails the check that names it. Once the function
exists, planned values that disagree with it are refused."""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from typing import Any

import pytest

from sandbox.sandbox import ACCOUNT, REGION
from sandbox.server import ServedSandbox, rotation_role_policy
from tests.cli.conftest import Cli

pytestmark = pytest.mark.integration

_names = itertools.count(1)

PLANNED_CHECKS = {"network-cluster-port", "network-aws-apis", "role-permissions", "kms-key"}
# Still waiting for the function: they read its configuration, or it is the deployment's.
WAITING = {
    "rotation-function",
    "function-settings",
    "function-timeout",
    "secret-resource-policy",
    "failure-alarm",
}
GROUP = "memorydb-rotation-drops"
SCHEDULER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/memorydb-rotation-drop-scheduler"


@dataclass
class World:
    """One user on its own cluster, its secret under a customer-managed key, rotation off (the
    function is not deployed), and the network a platform engineer plans to deploy into."""

    secret: str
    user_arn: str
    key: str
    subnet: str
    function_group: str
    closed_group: str
    bare_subnet: str
    bare_group: str


def _trust() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def world(served: ServedSandbox) -> World:
    ec2 = served.client("ec2")

    def network(cidr: str, services: tuple[str, ...]) -> tuple[str, str]:
        vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr.replace("0.0/16", "1.0/24"))
        subnet_id = str(subnet["Subnet"]["SubnetId"])
        group = ec2.create_security_group(GroupName=f"fn-{vpc}", Description="fn", VpcId=vpc)
        for service in services:
            ec2.create_vpc_endpoint(
                VpcId=vpc,
                ServiceName=f"com.amazonaws.{REGION}.{service}",
                VpcEndpointType="Interface",
                SubnetIds=[subnet_id],
                SecurityGroupIds=[group["GroupId"]],
                PrivateDnsEnabled=True,
            )
        return subnet_id, str(group["GroupId"])

    subnet, function_group = network("10.51.0.0/16", ("secretsmanager", "memory-db", "scheduler"))
    # A subnet whose VPC has no way to Secrets Manager: no endpoint for it, no NAT route.
    bare_subnet, bare_group = network("10.52.0.0/16", ("memory-db",))
    vpc = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
    made = [
        ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        for name in ("fn-closed", "cluster")
    ]
    closed_group, cluster_group = str(made[0]), str(made[1])
    user, acl, cluster = "planned-user", "planned-acl", "planned-cluster"
    password = served.sandbox.create_user(user, acl=None)
    served.sandbox.create_acl(acl, [user])
    served.sandbox.memorydb_client.create_cluster(
        ClusterName=cluster,
        NodeType="db.t4g.small",
        ACLName=acl,
        NumShards=1,
        NumReplicasPerShard=0,
        TLSEnabled=served.sandbox.tls_enabled,
        SecurityGroupIds=[cluster_group],
    )
    host, port = served.sandbox.cluster(cluster).endpoint
    # The cluster admits the planned function's group (and the bare VPC's, as over peering) on
    # its port; closed_group is admitted nowhere.
    ec2.authorize_security_group_ingress(
        GroupId=cluster_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "UserIdGroupPairs": [{"GroupId": function_group}, {"GroupId": bare_group}],
            }
        ],
    )
    key = served.client("kms").create_key(Description="the secret's key")["KeyMetadata"]["Arn"]
    served.sandbox.passwords_seen.add(password)
    document = served.sandbox.secret_document(user, password, host=host, port=port)
    secret = served.client("secretsmanager").create_secret(
        Name=f"memorydb/{user}", SecretString=json.dumps(document), KmsKeyId=key
    )["ARN"]
    return World(
        secret=secret,
        user_arn=served.sandbox.user_arn(user),
        key=key,
        subnet=subnet,
        function_group=function_group,
        closed_group=closed_group,
        bare_subnet=bare_subnet,
        bare_group=bare_group,
    )


def _policy(world: World, *, drop_after: bool = False) -> dict[str, Any]:
    """The template's grants for this secret and user (and its key, and drop-after's)."""
    policy = rotation_role_policy(world.secret, world.user_arn)
    policy["Statement"].append(
        {
            "Sid": "UseTheSecretsKeyOnlyThroughSecretsManager",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": world.key,
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com",
                    "kms:EncryptionContext:SecretARN": [world.secret],
                }
            },
        }
    )
    if drop_after:
        policy["Statement"] += [
            {
                "Sid": "CreateDropSchedulesInTheGroupOnly",
                "Effect": "Allow",
                "Action": "scheduler:CreateSchedule",
                "Resource": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{GROUP}/*",
            },
            {
                "Sid": "PassTheSchedulerRoleToSchedulerOnly",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": SCHEDULER_ROLE,
                "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            },
        ]
    return policy


def _role(served: ServedSandbox, policy: dict[str, Any]) -> str:
    """A role made elsewhere (another stack), with `policy` inline; its ARN."""
    iam = served.client("iam")
    name = f"planned-role-{next(_names)}"
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust())["Role"]["Arn"])
    iam.put_role_policy(
        RoleName=name, PolicyName="rotate-memorydb-secrets", PolicyDocument=json.dumps(policy)
    )
    return arn


def _doctor(
    cli: Cli,
    served: ServedSandbox,
    world: World,
    role: str,
    *extra: str,
    subnet: str | None = None,
    group: str | None = None,
) -> tuple[int, dict[str, dict[str, Any]], dict[str, Any]]:
    args = [
        "doctor",
        world.secret,
        "--role",
        role,
        "--subnets",
        subnet or world.subnet,
        "--security-groups",
        group or world.function_group,
        "--ca-bundle",
        str(served.ca_bundle),
        *extra,
    ]
    code, doc = cli.json(*args)
    return code, {c["id"]: c for c in doc["checks"]}, doc


def _results(checks: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {k: c["result"] for k, c in checks.items()}


def test_a_correct_planned_deployment_passes_before_the_function_exists(
    cli: Cli, served: ServedSandbox, world: World
) -> None:
    role = _role(served, _policy(world))
    code, checks, doc = _doctor(cli, served, world, role)
    results = _results(checks)
    assert {k for k, v in results.items() if v == "not-deployed"} == WAITING
    assert {k for k, v in results.items() if v != "not-deployed"} == {
        k for k, v in results.items() if v == "pass"
    }
    for check_id in PLANNED_CHECKS:
        assert checks[check_id]["detail"].startswith("planned: "), checks[check_id]
    name = role.rsplit("/", 1)[-1]
    assert checks["role-permissions"]["detail"].startswith(f"planned: role {name}; ")
    assert checks["kms-key"]["detail"].startswith(f"planned: role {name}; ")
    assert world.subnet in checks["network-aws-apis"]["detail"]
    assert world.function_group in checks["network-cluster-port"]["detail"]
    # The checks that read nothing planned do not say so.
    assert not checks["current-on-nodes"]["detail"].startswith("planned")
    assert (code, doc["verdict"]["code"]) == (0, "ready-to-deploy")
    assert "4 on the planned deployment" in doc["verdict"]["message"]
    assert doc["function"] is None


def test_a_role_without_update_user_fails_role_permissions_naming_it(
    cli: Cli, served: ServedSandbox, world: World
) -> None:
    policy = copy.deepcopy(_policy(world))
    users = next(s for s in policy["Statement"] if s["Sid"] == "ReadAndUpdateTheAllowedUsers")
    users["Action"].remove("memorydb:UpdateUser")
    code, checks, doc = _doctor(cli, served, world, _role(served, policy))
    assert (code, doc["verdict"]["code"]) == (1, "fail")
    assert {k for k, c in checks.items() if c["result"] == "fail"} == {"role-permissions"}
    detail = checks["role-permissions"]["detail"]
    assert detail.startswith("planned: role ")
    assert f"memorydb:UpdateUser on {world.user_arn}" in detail
    assert "memorydb:DescribeUsers" not in detail


def test_a_subnet_without_a_way_to_secrets_manager_fails_network_aws_apis(
    cli: Cli, served: ServedSandbox, world: World
) -> None:
    role = _role(served, _policy(world))
    code, checks, _doc = _doctor(
        cli, served, world, role, subnet=world.bare_subnet, group=world.bare_group
    )
    assert code == 1
    assert {k for k, c in checks.items() if c["result"] == "fail"} == {"network-aws-apis"}
    check = checks["network-aws-apis"]
    assert check["detail"].startswith(f"planned: subnets {world.bare_subnet}")
    assert "no interface endpoint for Secrets Manager" in check["detail"]
    assert "secretsmanager" in check["fix"]


def test_a_security_group_the_cluster_does_not_admit_fails_network_cluster_port(
    cli: Cli, served: ServedSandbox, world: World
) -> None:
    role = _role(served, _policy(world))
    code, checks, _doc = _doctor(cli, served, world, role, group=world.closed_group)
    assert code == 1
    assert {k for k, c in checks.items() if c["result"] == "fail"} == {"network-cluster-port"}
    detail = checks["network-cluster-port"]["detail"]
    assert detail.startswith("planned: subnets ")
    assert world.closed_group in detail
    assert "do not admit the function" in detail


def test_drop_after_needs_create_schedule_and_pass_role_in_the_planned_role(
    cli: Cli, served: ServedSandbox, world: World
) -> None:
    drop_after = (
        "--policy",
        "drop-after",
        "--schedule-group",
        GROUP,
        "--scheduler-role",
        SCHEDULER_ROLE,
    )
    # The role as drop's template grants it: enough for drop, not for drop-after.
    code, checks, _doc = _doctor(cli, served, world, _role(served, _policy(world)), *drop_after)
    assert code == 1
    assert {k for k, c in checks.items() if c["result"] == "fail"} == {"role-permissions"}
    detail = checks["role-permissions"]["detail"]
    assert "policy drop-after" in detail.split(";")[0]
    schedules = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{GROUP}/"
    assert f"scheduler:CreateSchedule on {schedules}" in detail
    assert f"iam:PassRole on {SCHEDULER_ROLE}" in detail
    # With drop-after's grants, it passes; the network check looked for Scheduler's endpoint.
    role = _role(served, _policy(world, drop_after=True))
    code, checks, _doc = _doctor(cli, served, world, role, *drop_after)
    assert code == 0, {k: c["detail"] for k, c in checks.items() if c["result"] == "fail"}
    assert "EventBridge Scheduler" in checks["network-aws-apis"]["detail"]
    assert "policy drop-after" in checks["network-aws-apis"]["detail"]


def test_the_text_output_says_planned_on_one_line_per_check(
    cli: Cli, served: ServedSandbox, world: World
) -> None:
    role = _role(served, _policy(world))
    args = ["doctor", world.secret, "--role", role, "--subnets", world.subnet]
    args += ["--security-groups", world.function_group, "--ca-bundle", str(served.ca_bundle)]
    result = cli(*args)
    assert result.exit_code == 0, result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("PASS")]
    planned = [line for line in lines if ": planned: " in line]
    assert len(planned) == len(PLANNED_CHECKS)


def test_planned_values_that_disagree_with_the_deployed_function_are_refused(
    cli: Cli, served: ServedSandbox, world: World
) -> None:
    function = served.client("lambda").get_function_configuration(FunctionName="memorydb-rotation")
    other = _role(served, _policy(world))
    refused = cli("doctor", world.secret, "--function", "memorydb-rotation", "--role", other)
    assert refused.exit_code == 2
    assert "differs from the planned deployment" in refused.stderr
    assert f"--role {other} but the function has {function['Role']}" in refused.stderr
    # Values that agree are the deployed function's: checked as deployed, not as planned.
    _code, doc = cli.json(
        "doctor", world.secret, "--function", "memorydb-rotation", "--role", function["Role"]
    )
    details = [c["detail"] for c in doc["checks"]]
    assert not any(d.startswith("planned") for d in details)
    assert {c["id"] for c in doc["checks"] if c["result"] == "not-deployed"} == set()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--role", "rotation-role"), "--role must be an IAM role ARN"),
        (("--subnets", "subnet-0123456789abcdef0"), "go together"),
        (("--policy", "drop-after"), "needs --schedule-group and --scheduler-role"),
        (("--policy", "sometimes"), "--policy must be one of"),
        (("--schedule-group", GROUP), "go with --policy drop-after"),
    ],
)
def test_unusable_planned_options_are_refused_before_any_read(
    cli: Cli, world: World, args: tuple[str, ...], message: str
) -> None:
    # An endpoint nothing answers on: a read would end in a different error.
    result = cli("doctor", world.secret, *args, env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 2
    assert message in result.stderr
