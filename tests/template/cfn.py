"""Just enough CloudFormation to test templates as code, with the PyYAML the dev venv has.

`load` reads a template with its short-form tags (!Ref, !Sub, ...) turned into the long form.
`Evaluator` resolves the intrinsic functions the templates use for given parameter values, so a
test can ask "with these two secrets, which resources does the role name?" instead of matching
the template's text. Refs to resources and GetAtts stay symbolic (`<Ref RotationFunction>`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]

PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "rotation-test",
    "AWS::URLSuffix": "amazonaws.com",
}


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    pass


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _tagged)


def load(path: Path) -> dict[str, Any]:
    document = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict):
        raise TypeError(f"{path} is not a template")
    return document


class EvaluationError(Exception):
    pass


class Evaluator:
    """Resolves Ref, Sub, Join, Split, Select, If, Equals, Not, And, Or and Condition."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str] | None = None):
        self.template = template
        self.parameters = self._parameter_values(dict(parameters or {}))
        self._conditions: dict[str, bool] = {}

    def _parameter_values(self, given: dict[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, definition in self.template.get("Parameters", {}).items():
            if name in given:
                raw = given.pop(name)
            elif "Default" in definition:
                raw = definition["Default"]
            else:
                raise EvaluationError(f"parameter {name} has no default and was not given")
            text = str(raw)
            if definition["Type"] == "CommaDelimitedList" or definition["Type"].startswith("List<"):
                values[name] = text.split(",")
            else:
                values[name] = text
        if given:
            raise EvaluationError(f"unknown parameters {sorted(given)}")
        return values

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            value = self.resolve(self.template["Conditions"][name])
            if not isinstance(value, bool):
                raise EvaluationError(f"condition {name} is not a boolean: {value!r}")
            self._conditions[name] = value
        return self._conditions[name]

    def resource_exists(self, logical_id: str) -> bool:
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def resolve(self, node: Any) -> Any:  # noqa: PLR0911, PLR0912 - one branch per function
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            key, value = next(iter(node.items()))
            if key == "Ref":
                return self._ref(value)
            if key == "Condition":
                return self.condition(value)
            if key == "Fn::GetAtt":
                return f"<GetAtt {'.'.join(value)}>"
            if key == "Fn::Sub":
                return self._sub(value)
            if key == "Fn::Join":
                delimiter, items = value
                return delimiter.join(str(item) for item in self.resolve(items))
            if key == "Fn::Split":
                delimiter, source = value
                return str(self.resolve(source)).split(delimiter)
            if key == "Fn::Select":
                index, items = value
                resolved = self.resolve(items)
                if isinstance(resolved, str):  # a list attribute known only at deploy time
                    return f"<Select {self.resolve(index)} {resolved}>"
                return resolved[int(self.resolve(index))]
            if key == "Fn::If":
                name, when_true, when_false = value
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in value)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(value[0])
            if key == "Fn::And":
                return all(self.resolve(item) for item in value)
            if key == "Fn::Or":
                return any(self.resolve(item) for item in value)
            if key == "Fn::GetAZs":
                return [f"{PSEUDO['AWS::Region']}{zone}" for zone in "abc"]
            if key == "Fn::Cidr":
                block, count, bits = (self.resolve(item) for item in value)
                if str(block).startswith("<"):  # e.g. the VPC's Amazon-provided IPv6 block
                    return [f"<Cidr {i} /{bits} of {block}>" for i in range(int(count))]
                network = ipaddress.ip_network(str(block))
                prefix = network.max_prefixlen - int(bits)
                return [str(net) for net in network.subnets(new_prefix=prefix)][: int(count)]
            if key.startswith("Fn::"):
                raise EvaluationError(f"{key} is not supported by this evaluator")
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.template.get("Resources", {}):
            return f"<Ref {name}>"
        raise EvaluationError(f"Ref to unknown {name}")

    def _sub(self, value: Any) -> str:
        if isinstance(value, list):
            text, variables = value[0], {k: self.resolve(v) for k, v in value[1].items()}
        else:
            text, variables = value, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.template.get("Resources", {}):
                return f"<GetAtt {name}>"
            resolved = self._ref(name)
            return ",".join(resolved) if isinstance(resolved, list) else str(resolved)

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def iam_statements(template: Mapping[str, Any], evaluator: Evaluator) -> list[dict[str, Any]]:
    """Every IAM statement the stack would create with the evaluator's parameters: inline role
    policies, managed and standalone policies, and SAM's Policies property. Each statement is
    returned with `Action`/`Resource` as lists and a `_where` key naming its resource."""
    statements = []
    for logical_id, resource in template.get("Resources", {}).items():
        if not evaluator.resource_exists(logical_id):
            continue
        kind = resource["Type"]
        properties = evaluator.resolve(resource.get("Properties", {}))
        documents: list[Any] = []
        if kind in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            documents += [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            documents.append(properties["PolicyDocument"])
        elif kind == "AWS::Serverless::Function":
            policies = properties.get("Policies", [])
            policies = policies if isinstance(policies, list) else [policies]
            documents += [policy for policy in policies if isinstance(policy, dict)]
        for document in documents:
            for statement in _as_list(document.get("Statement", [])):
                statements.append(
                    {
                        **statement,
                        "Action": _as_list(statement.get("Action", [])),
                        "Resource": _as_list(statement.get("Resource", [])),
                        "_where": logical_id,
                    }
                )
    return statements


def opaque_policies(template: Mapping[str, Any], evaluator: Evaluator) -> list[str]:
    """Permissions these tests cannot read: managed policies from outside the template (AWS's or
    named by ARN) and SAM policy templates or policy names. The template must have none."""
    found = []
    for logical_id, resource in template.get("Resources", {}).items():
        if not evaluator.resource_exists(logical_id):
            continue
        properties = evaluator.resolve(resource.get("Properties", {}))
        for arn in properties.get("ManagedPolicyArns", []):
            if not (isinstance(arn, str) and arn.startswith("<Ref ")):
                found.append(f"{logical_id}: managed policy {arn}")
        if resource["Type"] == "AWS::Serverless::Function":
            policies = _as_list(properties.get("Policies", []))
            found += [
                f"{logical_id}: SAM policy {policy}"
                for policy in policies
                if not (isinstance(policy, dict) and "Statement" in policy)
            ]
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# Values the tests deploy the template with (never real resources).
SECRET_A = "arn:aws:secretsmanager:us-east-1:123456789012:secret:memorydb/app-user-AbCdEf"
SECRET_B = "arn:aws:secretsmanager:us-east-1:123456789012:secret:memorydb/reporting-GhIjKl"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
REQUIRED = {"SecretArns": SECRET_A, "RotatableUsers": "app-user"}
EVERYTHING_ON = {
    "SecretArns": f"{SECRET_A},{SECRET_B}",
    "RotatableUsers": "app-user,reporting",
    "KmsKeyArn": KMS_KEY,
    "SubnetIds": "subnet-0a1b2c3d,subnet-4e5f6a7b",
    "SecurityGroupIds": "sg-0123abcd",
    "TracingEnabled": "true",
    "AlarmEmail": "oncall@example.com",
    "CaBundlePath": "/opt/ca/bundle.pem",
    "OldPasswordPolicy": "drop-after",
}
SINGLE_SECRET_SCHEDULED = {
    **REQUIRED,
    "KmsKeyArn": KMS_KEY,
    "RotationScheduleExpression": "rate(30 days)",
    "RotationWindow": "3h",
}
DROP_AFTER = {**REQUIRED, "OldPasswordPolicy": "drop-after"}
PARAMETER_SETS = {
    "required only": REQUIRED,
    "drop after a grace": DROP_AFTER,
    "everything on": EVERYTHING_ON,
    "one secret, scheduled": SINGLE_SECRET_SCHEDULED,
}

# The example stack's only required parameter: who administers the rotated secret.
EXAMPLE_ADMINS = (
    "arn:aws:iam::123456789012:role/platform-admin,"
    "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123abcd"
)
EXAMPLE_REQUIRED = {"AdministratorArns": EXAMPLE_ADMINS}
