"""Every AWS API the function calls has a network path in the example stack, under each policy.

The list of APIs is read from the code, not written here: each adapter in rotation/adapters/ names
its boto3 service (`SERVICE = "memorydb"` on a BotoAdapter) and its operations (`call("X", ...)`,
`_pages("X", ...)`), and which adapters a deployment builds is what
`rotation.composition.service()` builds from the environment the template gives the function for
that policy. Each service then needs, in the example stack: an interface endpoint for it, in the
function's subnets, with private DNS (so boto3's default host name resolves to it), and a security
group the function may reach on 443. The endpoint service names are facts from AWS's documentation
(docs/deploy.md, "The network"); they are the one table here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rotation.settings import ENV_VARS

from .cfn import EXAMPLE_REQUIRED, PSEUDO, ROOT, Evaluator, load

ADAPTERS = ROOT / "rotation" / "adapters"
POLICIES = ("drop", "keep", "drop-after")
# boto3's service name -> the interface endpoint service com.amazonaws.REGION.<this>.
ENDPOINT_SERVICES = {
    "secretsmanager": "secretsmanager",
    "memorydb": "memory-db",
    "scheduler": "scheduler",
}
HTTPS = 443


@dataclass(frozen=True)
class AdapterApis:
    module: str
    service: str
    operations: frozenset[str]


def _first_string(node: ast.Call) -> str | None:
    if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def _callee(node: ast.Call) -> str:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return ""


def adapter_apis(directory: Path = ADAPTERS) -> dict[str, AdapterApis]:
    """module -> the boto3 service it builds a client for and the operations it calls."""
    found = {}
    for path in sorted(directory.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        services, operations = set(), set()
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and [getattr(t, "id", None) for t in node.targets] == ["SERVICE"]
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                # class MemoryDBDirectory(BotoAdapter[...]): SERVICE = "memorydb"
                services.add(node.value.value)
                continue
            if not isinstance(node, ast.Call) or (text := _first_string(node)) is None:
                continue
            if any(keyword.arg == "config" for keyword in node.keywords):
                # boto3.client("scheduler", config=...), factory("memorydb", config=...)
                services.add(text)
            elif _callee(node) in ("call", "_pages"):
                operations.add(text)
        if not services and not operations:
            continue
        assert len(services) == 1, f"{path.name}: expected one boto3 service, found {services}"
        module = f"rotation.adapters.{path.stem}"
        found[module] = AdapterApis(module, services.pop(), frozenset(operations))
    return found


def _plausible(value: Any, resources: dict[str, Any]) -> Any:
    """Symbolic Refs/GetAtts as CloudFormation would fill them, so the settings model validates."""
    if not isinstance(value, str):
        return value

    def arn(match: re.Match[str]) -> str:
        logical_id = match.group(1)
        if resources.get(logical_id, {}).get("Type") == "AWS::IAM::Role":
            return f"arn:aws:iam::{PSEUDO['AWS::AccountId']}:role/rotation-test-{logical_id}"
        return f"arn:aws:{logical_id.lower()}"

    value = re.sub(r"<GetAtt (\w+)\.Arn>", arn, value)
    return re.sub(r"<Ref (\w+)>", lambda m: f"rotation-test-{m.group(1)}", value)


def function_environment(stack: dict[str, Any], policy: str) -> dict[str, str]:
    """The rotation function's environment when the example stack is deployed with `policy`."""
    outer = Evaluator(stack, {**EXAMPLE_REQUIRED, "OldPasswordPolicy": policy})
    app = stack["Resources"]["RotationApp"]["Properties"]
    location = (ROOT / "infra" / app["Location"]).resolve()
    template = load(location)
    given = {name: str(value) for name, value in outer.resolve(app["Parameters"]).items()}
    inner = Evaluator(template, given)
    variables = inner.resolve(template["Resources"]["RotationFunction"]["Properties"])[
        "Environment"
    ]["Variables"]
    return {
        name: str(_plausible(value, template["Resources"])) for name, value in variables.items()
    }


def _reachable(root: object) -> Iterator[object]:
    """Every object reachable from `root` through attributes, containers and closures."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        item = todo.pop()
        if id(item) in seen or isinstance(item, str | bytes | int | float | bool | type(None)):
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, dict):
            todo += list(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            todo += list(item)
        closure = getattr(item, "__closure__", None) if callable(item) else None
        if closure:
            todo += [cell.cell_contents for cell in closure]
        if hasattr(item, "__wrapped__"):
            todo.append(item.__wrapped__)
        if hasattr(item, "__self__"):  # a bound method: the object it runs on
            todo.append(item.__self__)
        if hasattr(item, "__dict__") and not isinstance(item, type):
            todo += [v for k, v in vars(item).items() if not k.startswith("__")]
        for slot in getattr(type(item), "__dataclass_fields__", {}):
            todo.append(getattr(item, slot, None))


def adapters_in_use(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The adapter modules the composition root builds with this environment (cold start)."""
    from rotation.composition import service

    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    service.cache_clear()
    try:
        return {
            type(item).__module__
            for item in _reachable(service())
            if type(item).__module__.startswith("rotation.adapters.")
        }
    finally:
        service.cache_clear()


def required_services(
    stack: dict[str, Any], policy: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, set[str]]:
    """boto3 service -> the operations the function calls on it under `policy`."""
    apis = adapter_apis()
    services: dict[str, set[str]] = {}
    for module in adapters_in_use(function_environment(stack, policy), monkeypatch):
        if module in apis:
            services.setdefault(apis[module].service, set()).update(apis[module].operations)
    return services


def _depends_on(stack: dict[str, Any], logical_id: str) -> set[str]:
    """What the resource waits for: DependsOn, and the Refs in the Metadata of a
    WaitConditionHandle it depends on (the conditional-dependency idiom)."""
    resources = stack["Resources"]
    direct = resources[logical_id].get("DependsOn", [])
    direct = {direct} if isinstance(direct, str) else set(direct)
    waits = set(direct)
    for name in direct:
        if resources.get(name, {}).get("Type") == "AWS::CloudFormation::WaitConditionHandle":
            waits |= set(re.findall(r"'Ref': '(\w+)'", str(resources[name].get("Metadata", {}))))
    return waits


def network_problems(
    stack: dict[str, Any], policy: str, services: dict[str, set[str]]
) -> list[str]:
    evaluator = Evaluator(stack, {**EXAMPLE_REQUIRED, "OldPasswordPolicy": policy})
    resources = {
        logical_id: {**resource, "Properties": evaluator.resolve(resource.get("Properties", {}))}
        for logical_id, resource in stack["Resources"].items()
        if evaluator.resource_exists(logical_id)
    }
    app = resources["RotationApp"]["Properties"]["Parameters"]
    function_subnets = set(str(app["SubnetIds"]).split(","))
    function_groups = set(str(app["SecurityGroupIds"]).split(","))
    region = PSEUDO["AWS::Region"]
    endpoints = {
        props["ServiceName"]: (logical_id, props)
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::EC2::VPCEndpoint"
        for props in [resource["Properties"]]
    }
    waits_for = _depends_on(stack, "RotationApp")
    problems = []
    for service, operations in sorted(services.items()):
        calls = ", ".join(sorted(operations))
        if service not in ENDPOINT_SERVICES:
            problems.append(f"{service} ({calls}): no known endpoint service; add it here")
            continue
        name = f"com.amazonaws.{region}.{ENDPOINT_SERVICES[service]}"
        if name not in endpoints:
            problems.append(f"{policy}: {service} ({calls}) has no endpoint {name}")
            continue
        logical_id, props = endpoints[name]
        interface = props.get("VpcEndpointType") == "Interface"
        if not interface or props.get("PrivateDnsEnabled") is not True:
            problems.append(f"{logical_id}: not an interface endpoint with private DNS")
        if not function_subnets <= {str(s) for s in props.get("SubnetIds", [])}:
            problems.append(f"{logical_id}: not in every subnet of the function")
        groups = {str(g) for g in props.get("SecurityGroupIds", [])}
        if not any(_allows_https(resources, source, groups) for source in function_groups):
            problems.append(f"{logical_id}: the function's security group cannot reach it on 443")
        if logical_id not in waits_for:
            problems.append(f"the application (its first rotation) does not wait for {logical_id}")
    return problems


def _ref(value: str) -> str:
    return value.removeprefix("<Ref ").removesuffix(">")


def _allows_https(resources: dict[str, Any], source: str, targets: set[str]) -> bool:
    """The source group's egress and some target group's ingress both admit 443 between them."""
    source_id = _ref(source)

    def covers(rule: dict[str, Any]) -> bool:
        protocol = str(rule.get("IpProtocol"))
        if protocol == "-1":
            return True
        return protocol == "tcp" and int(rule["FromPort"]) <= HTTPS <= int(rule["ToPort"])

    egress = resources[source_id]["Properties"].get("SecurityGroupEgress", [])
    reachable = {
        _ref(str(rule.get("DestinationSecurityGroupId")))
        for rule in egress
        if covers(rule) and rule.get("DestinationSecurityGroupId")
    }
    for target in targets:
        target_id = _ref(target)
        if target_id not in reachable:
            continue
        ingress = [
            resource["Properties"]
            for resource in resources.values()
            if resource["Type"] == "AWS::EC2::SecurityGroupIngress"
            and _ref(str(resource["Properties"].get("GroupId"))) == target_id
        ] + resources[target_id]["Properties"].get("SecurityGroupIngress", [])
        if any(
            covers(rule) and _ref(str(rule.get("SourceSecurityGroupId"))) == source_id
            for rule in ingress
        ):
            return True
    return False


# --- the derivation ----------------------------------------------------------------------------


def test_the_apis_are_read_from_the_adapters() -> None:
    import botocore.session

    apis = adapter_apis()
    session = botocore.session.get_session()
    assert {a.service for a in apis.values()} == set(ENDPOINT_SERVICES)
    for adapter in apis.values():
        model = session.get_service_model(adapter.service)
        # A typo in an operation name would silently drop it from the list.
        assert adapter.operations <= set(model.operation_names), adapter
        assert adapter.operations
    assert "CreateSchedule" in apis["rotation.adapters.scheduler"].operations
    assert "DescribeACLs" in apis["rotation.adapters.memorydb"].operations


def test_the_parsed_apis_are_the_ones_the_role_grants() -> None:
    """The same list from the other side: an API the code calls without a permission (or a
    permission no code uses) shows up here as well as in the IAM tests."""
    from .test_deploy_iam import CODE_ACTIONS, DROP_AFTER_ACTIONS

    parsed = {
        f"{adapter.service}:{operation}".lower()
        for adapter in adapter_apis().values()
        for operation in adapter.operations
    }
    granted = {action.lower() for action in CODE_ACTIONS | DROP_AFTER_ACTIONS}
    assert parsed == granted - {"iam:passrole"}  # PassRole is authorised, never called


@pytest.mark.parametrize("policy", POLICIES)
def test_the_scheduler_is_called_only_under_drop_after(
    example_stack: dict[str, Any], policy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = required_services(example_stack, policy, monkeypatch)

    assert {"secretsmanager", "memorydb"} <= set(services)
    assert ("scheduler" in services) is (policy == "drop-after")


# --- the network path --------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_every_api_the_function_calls_has_a_private_path(
    example_stack: dict[str, Any], policy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = required_services(example_stack, policy, monkeypatch)

    assert network_problems(example_stack, policy, services) == []


def test_the_example_passes_its_policy_to_the_application(example_stack: dict[str, Any]) -> None:
    template = load(ROOT / "template.yaml")
    parameter = example_stack["Parameters"]["OldPasswordPolicy"]
    applications = template["Parameters"]["OldPasswordPolicy"]

    assert parameter["AllowedValues"] == applications["AllowedValues"]
    assert set(POLICIES) == set(parameter["AllowedValues"])
    assert parameter["Default"] == applications["Default"]
    for policy in POLICIES:
        assert function_environment(example_stack, policy)["OLD_PASSWORD_POLICY"] == policy


def _break(stack: dict[str, Any], mutation: str) -> None:
    resources = stack["Resources"]
    if mutation == "no scheduler endpoint":
        del resources["SchedulerEndpoint"]
        resources["PolicyEndpointsReady"]["Metadata"] = {}
    elif mutation == "the old memorydb service name":
        resources["MemoryDBEndpoint"]["Properties"]["ServiceName"] = {
            "Fn::Sub": "com.amazonaws.${AWS::Region}.memorydb"
        }
    elif mutation == "no private DNS":
        resources["SecretsManagerEndpoint"]["Properties"]["PrivateDnsEnabled"] = False
    elif mutation == "one subnet":
        resources["SchedulerEndpoint"]["Properties"]["SubnetIds"] = [{"Ref": "PrivateSubnetA"}]
    elif mutation == "no ingress":
        del resources["EndpointIngressFromFunction"]
    elif mutation == "no egress":
        egress = resources["FunctionSecurityGroup"]["Properties"]["SecurityGroupEgress"]
        egress[:] = [rule for rule in egress if rule["FromPort"] != HTTPS]
    elif mutation == "not waited for":
        resources["RotationApp"]["DependsOn"].remove("PolicyEndpointsReady")
    else:
        raise AssertionError(mutation)


@pytest.mark.parametrize(
    "mutation",
    [
        "no scheduler endpoint",
        "the old memorydb service name",
        "no private DNS",
        "one subnet",
        "no ingress",
        "no egress",
        "not waited for",
    ],
)
def test_a_missing_network_path_is_caught(
    example_stack: dict[str, Any], mutation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = required_services(example_stack, "drop-after", monkeypatch)
    _break(example_stack, mutation)

    assert network_problems(example_stack, "drop-after", services)


def test_a_service_the_stack_has_no_endpoint_for_is_caught(example_stack: dict[str, Any]) -> None:
    """An adapter for a new service (here: SNS) needs a new row and a new endpoint."""
    services = {"secretsmanager": {"GetSecretValue"}, "sns": {"Publish"}}

    assert network_problems(example_stack, "drop", services) == [
        "sns (Publish): no known endpoint service; add it here"
    ]


def test_the_scheduler_endpoint_exists_only_under_drop_after(example_stack: dict[str, Any]) -> None:
    for policy in POLICIES:
        evaluator = Evaluator(example_stack, {**EXAMPLE_REQUIRED, "OldPasswordPolicy": policy})
        assert evaluator.resource_exists("SchedulerEndpoint") is (policy == "drop-after")


# --- IPv6 --------------------------------------------------------------------------------------

CLUSTER_PORT = 6379


def ipv6_problems(stack: dict[str, Any]) -> list[str]:
    """IpDiscovery=ipv6: dual-stack subnets, a dual-stack cluster that announces IPv6, a function
    allowed IPv6, and security groups that admit the AUTH checks from each subnet's IPv6 block.
    IpDiscovery=ipv4: none of it."""
    problems = []
    for discovery in ("ipv4", "ipv6"):
        on = discovery == "ipv6"
        evaluator = Evaluator(
            stack, {**EXAMPLE_REQUIRED, "IpDiscovery": discovery, "OldPasswordPolicy": "drop"}
        )
        resources = {
            logical_id: evaluator.resolve(resource.get("Properties", {}))
            for logical_id, resource in stack["Resources"].items()
            if evaluator.resource_exists(logical_id)
        }
        cluster = resources["Cluster"]
        expected = ("dual_stack", "ipv6") if on else ("ipv4", "ipv4")
        if (cluster.get("NetworkType"), cluster.get("IpDiscovery")) != expected:
            problems.append(f"{discovery}: the cluster is {cluster.get('NetworkType')}")
        allowed = resources["RotationApp"]["Parameters"].get("Ipv6AllowedForDualStack")
        if allowed != ("true" if on else "false"):
            problems.append(f"{discovery}: Ipv6AllowedForDualStack is {allowed!r}")
        subnets = [r for r in resources if stack["Resources"][r]["Type"] == "AWS::EC2::Subnet"]
        for subnet in subnets:
            if ("Ipv6CidrBlock" in resources[subnet]) is not on:
                problems.append(f"{discovery}: {subnet} has the wrong IPv6 block")
        blocks = {f"<GetAtt {s}.Ipv6CidrBlocks>" for s in subnets}

        def ipv6_rules(kind: str, group: str, resources: dict[str, Any] = resources) -> set[str]:
            return {
                str(props.get("CidrIpv6", ""))
                for logical_id, props in resources.items()
                if stack["Resources"][logical_id]["Type"] == kind
                and _ref(str(props.get("GroupId"))) == group
                and props.get("IpProtocol") == "tcp"
                and int(props["FromPort"]) <= CLUSTER_PORT <= int(props["ToPort"])
                and "CidrIpv6" in props
            }

        for kind, group in (
            ("AWS::EC2::SecurityGroupEgress", "FunctionSecurityGroup"),
            ("AWS::EC2::SecurityGroupIngress", "ClusterSecurityGroup"),
        ):
            found = ipv6_rules(kind, group)
            covered = {b for b in blocks if any(b in rule for rule in found)}
            if on and covered != blocks:
                problems.append(f"ipv6: {group} lacks {kind} rules for {sorted(blocks - covered)}")
            if not on and found:
                problems.append(f"ipv4: {group} has IPv6 rules {sorted(found)}")
    return problems


def test_ipv6_discovery_gets_a_dual_stack_path(example_stack: dict[str, Any]) -> None:
    assert ipv6_problems(example_stack) == []


@pytest.mark.parametrize(
    "mutation", ["no ingress", "one subnet's egress", "no ipv6 for the function", "ipv4 cluster"]
)
def test_a_broken_ipv6_path_is_caught(example_stack: dict[str, Any], mutation: str) -> None:
    resources = example_stack["Resources"]
    if mutation == "no ingress":
        del resources["ClusterIngressFromFunctionIpv6A"]
        del resources["ClusterIngressFromFunctionIpv6B"]
    elif mutation == "one subnet's egress":
        del resources["FunctionEgressToClusterIpv6B"]
    elif mutation == "no ipv6 for the function":
        del resources["RotationApp"]["Properties"]["Parameters"]["Ipv6AllowedForDualStack"]
    else:
        resources["Cluster"]["Properties"]["NetworkType"] = "ipv4"

    assert ipv6_problems(example_stack)
