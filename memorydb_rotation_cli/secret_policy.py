"""Who, besides the rotation role, may write a secret's versions? Read from its resource policy.

A principal allowed `secretsmanager:PutSecretValue` on a secret can plant an `AWSPENDING` value
under the in-flight token before createSecret runs; createSecret keeps a pending value it finds
(as AWS's own rotation templates do), so the planted password becomes the user's. The defence is
a resource policy on the secret that denies the version writes to every principal except the
rotation role and named administrators (docs/secret-policy.md). This module checks one:

    check_secret_policy(policy_json, rotation_role_arn, administrators=[...]).problems

It evaluates the policy's Deny statements the way IAM does for the few things that matter here
(Action/NotAction, Principal "*", Resource "*" or the secret's ARN, and conditions on
`aws:PrincipalArn`) and treats anything it cannot evaluate as a deny that may not hold. Pure
standard library: the operator CLI and the template tests call it; the Lambda never does.

From a shell (exit 1 when there are problems):

    aws secretsmanager get-resource-policy --secret-id S --query ResourcePolicy --output text \\
      | python -m memorydb_rotation_cli.secret_policy ROTATION_ROLE_ARN [--admin ARN ...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Writes that create or relabel versions (UpdateSecret with a SecretString creates a version and
# makes it AWSCURRENT), and the calls that would remove the defence itself.
VERSION_WRITE_ACTIONS = (
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:UpdateSecret",
)
POLICY_ACTIONS = ("secretsmanager:PutResourcePolicy", "secretsmanager:DeleteResourcePolicy")
# Stop, redirect or destroy rotation without writing a version: the recommended policy denies
# them to all but the administrators too, but the check does not insist (an owner may keep them).
LIFECYCLE_ACTIONS = (
    "secretsmanager:RotateSecret",
    "secretsmanager:CancelRotateSecret",
    "secretsmanager:DeleteSecret",
    "secretsmanager:RestoreSecret",
)
GUARDED_ACTIONS = (*VERSION_WRITE_ACTIONS, *POLICY_ACTIONS)
RECOMMENDED_ACTIONS = (*GUARDED_ACTIONS, *LIFECYCLE_ACTIONS)
# What the rotation function itself calls to write: it must stay exempt from these.
ROTATION_WRITES = ("secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage")

PRINCIPAL_ARN = "aws:principalarn"
_ROLE_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):role/.+$")
_PRINCIPAL_OPERATORS = {
    # operator (lower case, without IfExists): (wildcards allowed, negated)
    "arnequals": (True, False),
    "arnlike": (True, False),
    "arnnotequals": (True, True),
    "arnnotlike": (True, True),
    "stringequals": (False, False),
    "stringlike": (True, False),
    "stringnotequals": (False, True),
    "stringnotlike": (True, True),
}


class SecretPolicyError(ValueError):
    """The policy is not a JSON policy document, or the role ARN is not a role's ARN."""


@dataclass(frozen=True)
class SecretPolicyCheck:
    """`problems`: what lets someone other than the rotation role and the named administrators
    write versions or change the policy (empty: the policy holds). `other_writers`: every
    principal pattern besides the rotation role that may still make a guarded call, whether
    accepted or not, so a report can show who they are."""

    problems: list[str] = field(default_factory=list)
    other_writers: list[str] = field(default_factory=list)


def check_secret_policy(
    policy: str | Mapping[str, Any] | None,
    rotation_role_arn: str,
    *,
    administrators: Iterable[str] | None = None,
    secret_arn: str | None = None,
    actions: Sequence[str] = GUARDED_ACTIONS,
) -> SecretPolicyCheck:
    """Check `policy` (GetResourcePolicy's `ResourcePolicy` string, or the parsed document).

    `administrators`: the principal ARNs (or patterns, exactly as written in the policy) that may
    write besides the rotation role. None means "not told": then only wildcard exemptions and
    unknown principals are problems, and the named ones are listed in `other_writers`. The
    account's root user is always accepted (the recommended policy keeps it as break-glass).
    `secret_arn` lets statements that name the secret's ARN (rather than "*") count.
    """
    match = _ROLE_ARN.match(rotation_role_arn)
    if not match:
        raise SecretPolicyError("the rotation role ARN is not an IAM role ARN")
    document = _document(policy)
    if document is None:
        return SecretPolicyCheck(
            problems=[
                "the secret has no resource policy: any principal whose IAM policies allow "
                "secretsmanager:PutSecretValue on it may plant the pending password"
            ]
        )
    root = f"arn:{match['partition']}:iam::{match['account']}:root"
    accepted = None if administrators is None else {*administrators, root}
    statements = _statements(document)
    problems = [
        problem
        for index, statement in enumerate(statements)
        for problem in _unsupported(index, statement, secret_arn)
    ]
    # Principals the check tries: everyone the policy names, the rotation role, and strangers
    # (the same account, another account, a caller with no principal ARN such as a service).
    named = sorted(
        {value for statement in statements for value in _principal_values(statement)}
        | {root, rotation_role_arn}
    )
    strangers = [
        f"arn:{match['partition']}:iam::{match['account']}:role/not-named-in-the-policy",
        f"arn:{match['partition']}:iam::000000000000:user/not-named-in-the-policy",
        None,
    ]
    writers: dict[str, list[str]] = {}
    for action in actions:
        for principal in [*named, *strangers]:
            if _denied(statements, action, principal, secret_arn):
                continue
            if principal is None or principal in strangers:
                who = "a principal not named in the policy" if principal else "an AWS service"
                problems.append(f"{who} may call {action}: no Deny covers it unconditionally")
            elif principal != rotation_role_arn:
                writers.setdefault(principal, []).append(action)
    for action in ROTATION_WRITES:
        if action in actions and _denied(statements, action, rotation_role_arn, secret_arn):
            problems.append(
                f"the policy denies {action} to the rotation role {rotation_role_arn}: "
                "rotation would fail"
            )
    for principal, allowed in sorted(writers.items()):
        if principal == root or (accepted is not None and principal in accepted):
            continue
        if accepted is not None or _has_wildcard(principal):
            calls = ", ".join(action.split(":", 1)[1] for action in allowed)
            problems.append(f"{principal} may also call {calls}")
    return SecretPolicyCheck(problems=_unique(problems), other_writers=sorted(writers))


def recommended_policy(rotation_role_arn: str, administrators: Sequence[str]) -> dict[str, Any]:
    """The policy docs/secret-policy.md prints and infra/example-stack.yaml attaches: the rotation
    role writes versions; the administrators (and the account's root user, as break-glass against
    a policy that names no one who can still change it) may do that and manage the secret."""
    match = _ROLE_ARN.match(rotation_role_arn)
    if not match:
        raise SecretPolicyError("the rotation role ARN is not an IAM role ARN")
    managers = [f"arn:{match['partition']}:iam::{match['account']}:root", *administrators]

    def deny(sid: str, actions: Sequence[str], exempt: list[str]) -> dict[str, Any]:
        return {
            "Sid": sid,
            "Effect": "Deny",
            "Principal": "*",
            "Action": list(actions),
            "Resource": "*",
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": exempt}},
        }

    return {
        "Version": "2012-10-17",
        "Statement": [
            deny("OnlyRotationWritesVersions", ROTATION_WRITES, [rotation_role_arn, *managers]),
            deny(
                "OnlyAdministratorsManageTheSecret",
                [a for a in RECOMMENDED_ACTIONS if a not in ROTATION_WRITES],
                managers,
            ),
        ],
    }


def denies(
    policy: str | Mapping[str, Any] | None,
    action: str,
    principal_arn: str | None,
    *,
    secret_arn: str | None = None,
) -> bool:
    """Whether the policy's Deny statements certainly refuse `action` to `principal_arn` (None:
    a caller without a principal ARN, such as an AWS service)."""
    document = _document(policy)
    if document is None:
        return False
    return _denied(_statements(document), action, principal_arn, secret_arn)


# --- evaluation --------------------------------------------------------------------------------


def _document(policy: str | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if policy is None or policy == "":
        return None
    if isinstance(policy, str):
        try:
            parsed = json.loads(policy)
        except json.JSONDecodeError as exc:
            raise SecretPolicyError(f"the resource policy is not JSON: {exc.msg}") from None
    else:
        parsed = policy
    if not isinstance(parsed, Mapping):
        raise SecretPolicyError("the resource policy is not a JSON object")
    return parsed


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = document.get("Statement", [])
    items = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(item, Mapping) for item in items):
        raise SecretPolicyError("a statement of the resource policy is not a JSON object")
    return items


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _pattern(text: str, *, wildcards: bool = True, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM's matching: `*` any run of characters, `?` one character, nothing else special."""
    body = "".join(
        ".*" if c == "*" and wildcards else "." if c == "?" and wildcards else re.escape(c)
        for c in text
    )
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _matches_action(patterns: list[Any], action: str) -> bool:
    return any(_pattern(str(p), ignore_case=True).match(action) for p in patterns)


def _everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return "*" in _as_list(principal.get("AWS"))
    return False


def _covers_resource(statement: Mapping[str, Any], secret_arn: str | None) -> bool:
    if "NotResource" in statement:
        return False
    resources = [str(r) for r in _as_list(statement.get("Resource", "*"))]
    if "*" in resources:
        return True
    return secret_arn is not None and any(_pattern(r).match(secret_arn) for r in resources)


def _principal_conditions(statement: Mapping[str, Any]) -> list[tuple[str, list[str]]] | None:
    """The statement's conditions as (operator, values) on aws:PrincipalArn, or None when it has
    any other condition (which this check cannot evaluate)."""
    found = []
    for operator, block in (statement.get("Condition") or {}).items():
        if not isinstance(block, Mapping):
            return None
        for key, values in block.items():
            name = operator.lower().removesuffix("ifexists")
            if key.lower() != PRINCIPAL_ARN or name not in _PRINCIPAL_OPERATORS:
                return None
            found.append((operator, [str(v) for v in _as_list(values)]))
    return found


def _principal_values(statement: Mapping[str, Any]) -> list[str]:
    return [value for _, values in _principal_conditions(statement) or [] for value in values]


def _condition_holds(operator: str, values: list[str], principal: str | None) -> bool:
    name = operator.lower()
    if_exists = name.endswith("ifexists")
    wildcards, negated = _PRINCIPAL_OPERATORS[name.removesuffix("ifexists")]
    if principal is None:
        # A missing key: IfExists and the negated operators hold, the others do not.
        return if_exists or negated
    if name.startswith("arn"):
        matched = any(_arn_matches(v, principal) for v in values)
    else:
        matched = any(_pattern(v, wildcards=wildcards).match(principal) for v in values)
    return not matched if negated else matched


def _arn_matches(pattern: str, arn: str) -> bool:
    """The Arn operators match each of the six colon-separated parts on its own, so a `*` does
    not reach across a colon. A pattern that is not a whole ARN (such as a lone `*`) is matched
    as one string, which can only make the check stricter."""
    parts, values = pattern.split(":", 5), arn.split(":", 5)
    if len(parts) != 6:
        return bool(_pattern(pattern).match(arn))
    return len(values) == 6 and all(
        _pattern(part).match(value) for part, value in zip(parts, values, strict=True)
    )


def _denied(
    statements: list[Mapping[str, Any]], action: str, principal: str | None, secret_arn: str | None
) -> bool:
    for statement in statements:
        if str(statement.get("Effect", "")).lower() != "deny":
            continue
        if "NotPrincipal" in statement or not _everyone(statement.get("Principal")):
            continue
        if "NotAction" in statement:
            if _matches_action(_as_list(statement["NotAction"]), action):
                continue
        elif not _matches_action(_as_list(statement.get("Action")), action):
            continue
        if not _covers_resource(statement, secret_arn):
            continue
        conditions = _principal_conditions(statement)
        if conditions is None:
            continue
        if all(_condition_holds(op, values, principal) for op, values in conditions):
            return True
    return False


def _unsupported(index: int, statement: Mapping[str, Any], secret_arn: str | None) -> list[str]:
    """Deny statements this check cannot count on, said once each, so a report explains why a
    deny that looks right is not credited."""
    if str(statement.get("Effect", "")).lower() != "deny":
        return []
    name = f"statement {statement.get('Sid') or index}"
    if "NotPrincipal" in statement:
        return [
            f"{name} uses NotPrincipal, which names assumed-role sessions, not roles: write the "
            "exemption as a Condition on aws:PrincipalArn"
        ]
    if not _everyone(statement.get("Principal")):
        return [f'{name} denies only the principals it names: use "Principal": "*"']
    if not _covers_resource(statement, secret_arn):
        return [f'{name} does not apply to this secret: use "Resource": "*"']
    if _principal_conditions(statement) is None:
        keys = sorted(
            f"{operator} {key}"
            for operator, block in (statement.get("Condition") or {}).items()
            for key in (block if isinstance(block, Mapping) else {"?": None})
        )
        return [
            f"{name} holds only under conditions this check cannot evaluate ({', '.join(keys)}); "
            "exempt principals with aws:PrincipalArn only"
        ]
    return []


def _has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- command line ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check a secret's resource policy (JSON on stdin) against the rotation role."
    )
    parser.add_argument("rotation_role_arn")
    parser.add_argument("--admin", action="append", default=None, metavar="ARN")
    parser.add_argument("--secret-arn", default=None)
    args = parser.parse_args(argv)
    text = sys.stdin.read().strip()
    try:
        result = check_secret_policy(
            None if text in ("", "None", "null") else text,
            args.rotation_role_arn,
            administrators=args.admin,
            secret_arn=args.secret_arn,
        )
    except SecretPolicyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in result.problems:
        print(f"problem: {problem}")
    for writer in result.other_writers:
        print(f"also may write: {writer}")
    if result.problems:
        return 1
    print("ok: only the rotation role and the listed principals may write versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
