"""infra/example-stack.yaml: the secret is in the documented format, no password is ever a
literal or a parameter, the cluster speaks TLS, and the nested application gets what it needs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from rotation.errors import SecretFormatError
from rotation.models import Credentials

from .cfn import EXAMPLE_REQUIRED, ROOT, Evaluator, load

STACK_DIR = ROOT / "infra"
DYNAMIC_REFERENCE = "{{resolve:secretsmanager:"


def _keyed_strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every string in the template with the property it sets (intrinsics see through)."""
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _keyed_strings(value, key if name.startswith("Fn::") else name)
    elif isinstance(node, list):
        for value in node:
            yield from _keyed_strings(value, key)
    elif isinstance(node, str):
        yield key, node


def password_problems(stack: dict[str, Any]) -> list[str]:
    """Every password the stack sets comes from a dynamic reference to a generated secret."""
    problems = []
    for name, definition in stack.get("Parameters", {}).items():
        # A closed list of values (OldPasswordPolicy) is a choice, not a place for a password.
        chosen = "AllowedValues" in definition and not definition.get("NoEcho")
        if ("password" in name.lower() and not chosen) or definition.get("NoEcho"):
            problems.append(f"parameter {name} would carry a password")
    for key, text in _keyed_strings(stack["Resources"]):
        if "password" in key.lower() and not text.startswith(DYNAMIC_REFERENCE):
            problems.append(f"{key}: a literal password")
        for match in re.finditer(r'"password"\s*:\s*"([^"]*)"', text):
            if not match.group(1).startswith(DYNAMIC_REFERENCE):
                problems.append(f"{key}: a literal password inside a JSON document")
    generated = [
        logical_id
        for logical_id, resource in stack["Resources"].items()
        if resource["Type"] == "AWS::SecretsManager::Secret"
        and "GenerateSecretString" in resource["Properties"]
    ]
    for logical_id, resource in stack["Resources"].items():
        if resource["Type"] != "AWS::MemoryDB::User":
            continue
        for key, text in _keyed_strings(resource["Properties"]["AuthenticationMode"]):
            if key == "Passwords" and not any(f"${{{secret}}}" in text for secret in generated):
                problems.append(f"{logical_id}: the password does not come from a generated secret")
    return problems


def test_no_password_is_a_literal_or_a_parameter(example_stack: dict[str, Any]) -> None:
    assert password_problems(example_stack) == []


@pytest.mark.parametrize("mutation", ["literal", "parameter", "not generated"])
def test_a_leaked_password_is_caught(example_stack: dict[str, Any], mutation: str) -> None:
    user = example_stack["Resources"]["AppUser"]["Properties"]["AuthenticationMode"]
    if mutation == "literal":
        user["Passwords"] = ["correct-horse-battery-staple-42"]
    elif mutation == "parameter":
        example_stack["Parameters"]["UserPassword"] = {"Type": "String", "NoEcho": True}
    else:
        del example_stack["Resources"]["BootstrapPasswordSecret"]["Properties"][
            "GenerateSecretString"
        ]

    assert password_problems(example_stack)


def secret_problems(stack: dict[str, Any]) -> list[str]:
    """The rotated secret, as CloudFormation would write it, parses as the documented format and
    names this stack's user, cluster endpoint and port."""
    evaluator = Evaluator(stack, EXAMPLE_REQUIRED)
    text = evaluator.resolve(stack["Resources"]["AppUserSecret"]["Properties"]["SecretString"])
    # What CloudFormation puts there: the real endpoint, ARN and resolved password.
    user_arn = "arn:aws:memorydb:us-east-1:123456789012:user/rotation-demo-app"
    text = (
        text.replace("<GetAtt Cluster.ClusterEndpoint.Address>", "clustercfg.demo.memorydb.aws")
        .replace("<GetAtt AppUser.Arn>", user_arn)
        .replace("<Ref AppUser>", "rotation-demo-app")
    )
    if DYNAMIC_REFERENCE not in text:
        return ["the password is not read from the bootstrap secret"]
    start = text.index(DYNAMIC_REFERENCE)
    text = text.replace(text[start : text.index("}}", start) + 2], "A" * 32)
    try:
        credentials = Credentials.parse(text)
    except SecretFormatError as exc:
        return [str(exc)]
    expected = {
        "username": "rotation-demo-app",
        "host": "clustercfg.demo.memorydb.aws",
        "port": stack["Resources"]["Cluster"]["Properties"].get("Port", 6379),
        "ssl": True,
        "user_arn": user_arn,
    }
    return [
        f"{name} is {getattr(credentials, name)!r}, expected {value!r}"
        for name, value in expected.items()
        if getattr(credentials, name) != value
    ]


def test_the_rotated_secret_is_in_the_documented_format(example_stack: dict[str, Any]) -> None:
    assert secret_problems(example_stack) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"host":"${Host}",', ""),
        ('"port":6379', '"port":"6379"'),
        ('"ssl":true', '"ssl":false'),
        ('"username":"${AppUser}"', '"username":"someone-else"'),
        ("{{resolve:secretsmanager:${BootstrapPasswordSecret}:SecretString:password}}", "x"),
    ],
)
def test_a_secret_in_the_wrong_format_is_caught(
    example_stack: dict[str, Any], old: str, new: str
) -> None:
    sub = example_stack["Resources"]["AppUserSecret"]["Properties"]["SecretString"]["Fn::Sub"]
    assert old in sub[0]
    sub[0] = sub[0].replace(old, new)

    assert secret_problems(example_stack)


def test_the_secret_is_written_with_the_password_the_user_got(
    example_stack: dict[str, Any],
) -> None:
    resources = example_stack["Resources"]
    secret = resources["AppUserSecret"]["Properties"]["SecretString"]["Fn::Sub"][0]
    user_password = resources["AppUser"]["Properties"]["AuthenticationMode"]["Passwords"][0][
        "Fn::Sub"
    ]

    assert user_password in secret
    # The value sits inside JSON: letters and digits only, so it never needs escaping.
    assert (
        resources["BootstrapPasswordSecret"]["Properties"]["GenerateSecretString"][
            "ExcludePunctuation"
        ]
        is True
    )


def cluster_problems(stack: dict[str, Any]) -> list[str]:
    resources = stack["Resources"]
    cluster = resources["Cluster"]["Properties"]
    problems = []
    if cluster.get("TLSEnabled") is not True:
        problems.append("the cluster does not require TLS")
    if cluster.get("ACLName") != {"Ref": "Acl"}:
        problems.append("the cluster does not use the stack's ACL")
    if {"Ref": "AppUser"} not in resources["Acl"]["Properties"]["UserNames"]:
        problems.append("the ACL does not hold the rotated user")
    return problems


def test_the_cluster_speaks_tls_and_holds_the_user(example_stack: dict[str, Any]) -> None:
    assert cluster_problems(example_stack) == []


@pytest.mark.parametrize("mutation", ["tls", "acl"])
def test_a_cluster_without_tls_or_the_user_is_caught(
    example_stack: dict[str, Any], mutation: str
) -> None:
    if mutation == "tls":
        example_stack["Resources"]["Cluster"]["Properties"]["TLSEnabled"] = False
    else:
        example_stack["Resources"]["Acl"]["Properties"]["UserNames"] = []

    assert cluster_problems(example_stack)


def application_problems(stack: dict[str, Any]) -> list[str]:
    app = stack["Resources"]["RotationApp"]
    location = (STACK_DIR / app["Properties"]["Location"]).resolve()
    if location != (ROOT / "template.yaml").resolve():
        return [f"the nested application is {location}, not template.yaml"]
    parameters = load(location)["Parameters"]
    given = app["Properties"]["Parameters"]
    problems = [
        f"{name} is not a parameter of template.yaml" for name in set(given) - set(parameters)
    ]
    problems += [
        f"required parameter {name} is not passed"
        for name, definition in parameters.items()
        if "Default" not in definition and name not in given
    ]
    expected = {
        "SecretArns": {"Ref": "AppUserSecret"},
        "RotatableUsers": {"Ref": "AppUser"},
        "SecurityGroupIds": {"Ref": "FunctionSecurityGroup"},
        "KmsKeyArn": {"Fn::GetAtt": ["SecretsKey", "Arn"]},
    }
    problems += [
        f"{name} is {given.get(name)}, expected {value}"
        for name, value in expected.items()
        if given.get(name) != value
    ]
    if not given.get("RotationScheduleExpression"):
        problems.append("the example attaches no schedule")
    waits_for = set(app.get("DependsOn", []))
    problems += [
        f"the application (and its first rotation) does not wait for {name}"
        for name in ("Cluster", "SecretsManagerEndpoint", "MemoryDBEndpoint")
        if name not in waits_for
    ]
    return problems


def test_the_nested_application_gets_what_it_needs(example_stack: dict[str, Any]) -> None:
    assert application_problems(example_stack) == []


@pytest.mark.parametrize("mutation", ["location", "unknown parameter", "missing users", "depends"])
def test_a_miswired_application_is_caught(example_stack: dict[str, Any], mutation: str) -> None:
    app = example_stack["Resources"]["RotationApp"]
    if mutation == "location":
        app["Properties"]["Location"] = "template.yaml"
    elif mutation == "unknown parameter":
        app["Properties"]["Parameters"]["VpcId"] = {"Ref": "Vpc"}
    elif mutation == "missing users":
        del app["Properties"]["Parameters"]["RotatableUsers"]
    else:
        app["DependsOn"].remove("Cluster")

    assert application_problems(example_stack)


def test_the_function_reaches_the_apis_privately(example_stack: dict[str, Any]) -> None:
    evaluator = Evaluator(example_stack, EXAMPLE_REQUIRED)
    resources = {
        logical_id: evaluator.resolve(resource)
        for logical_id, resource in example_stack["Resources"].items()
        if evaluator.resource_exists(logical_id)
    }
    # The default policy (drop); test_deploy_network.py checks every policy against the code.
    endpoints = {
        resource["Properties"]["ServiceName"]: resource["Properties"]
        for resource in resources.values()
        if resource["Type"] == "AWS::EC2::VPCEndpoint"
    }

    assert set(endpoints) == {
        "com.amazonaws.us-east-1.secretsmanager",
        "com.amazonaws.us-east-1.memory-db",
    }
    assert all(endpoint["PrivateDnsEnabled"] is True for endpoint in endpoints.values())
    assert resources["Vpc"]["Properties"]["EnableDnsHostnames"] is True
    assert resources["Vpc"]["Properties"]["EnableDnsSupport"] is True
    assert not any(
        resource["Type"] == "AWS::EC2::InternetGateway" for resource in resources.values()
    )
