"""iam:SimulatePrincipalPolicy for the served sandbox (moto 5.2.5 raises NotImplementedError).

Evaluates a role's identity-based policies (inline and attached managed, default versions) the
way IAM does for one principal: an explicit Deny wins, else any Allow, else an implicit deny.
Action and Resource (and NotAction/NotResource) match with IAM's `*` and `?` wildcards, actions
case-insensitively. Conditions: StringEquals, StringLike, ArnEquals, ArnLike, with the
ForAllValues/ForAnyValue qualifiers, against the request's ContextEntries. Any other condition
operator is refused (ValidationError) rather than guessed, so a check built on this answer
cannot pass on a condition the sandbox does not understand. Permission boundaries, SCPs and
resource policies are not evaluated (the real API does not evaluate SCPs either unless asked).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

_OPERATORS = {"StringEquals", "StringLike", "ArnEquals", "ArnLike"}


class UnsupportedConditionError(ValueError):
    pass


def _listed(value: Any) -> list[Any]:
    return [value] if isinstance(value, str | dict) else list(value or [])


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _matches(statement: dict[str, Any], key: str, value: str, *, ignore_case: bool) -> bool:
    if key in statement:
        return any(_glob(p, value, ignore_case=ignore_case) for p in _listed(statement[key]))
    negated = "Not" + key
    if negated in statement:
        return not any(
            _glob(p, value, ignore_case=ignore_case) for p in _listed(statement[negated])
        )
    return False


def _conditions_hold(conditions: dict[str, Any], context: dict[str, list[str]]) -> bool:
    for operator, entries in conditions.items():
        qualifier, _, name = operator.rpartition(":")
        if name not in _OPERATORS or qualifier not in {"", "ForAllValues", "ForAnyValue"}:
            raise UnsupportedConditionError(operator)
        like = name.endswith("Like")
        for key, expected in entries.items():
            wanted = [str(e) for e in _listed(expected)]
            actual = context.get(key.lower())

            def match(value: str, wanted: list[str] = wanted, like: bool = like) -> bool:
                return any(_glob(e, value) if like else e == value for e in wanted)

            if qualifier == "ForAllValues":
                held = actual is None or all(match(v) for v in actual)
            else:
                held = actual is not None and any(match(v) for v in actual)
            if not held:
                return False
    return True


def decide(
    policies: list[dict[str, Any]], action: str, resource: str, context: dict[str, list[str]]
) -> str:
    decision = "implicitDeny"
    for policy in policies:
        for statement in _listed(policy.get("Statement")):
            if not _matches(statement, "Action", action, ignore_case=True):
                continue
            if not _matches(statement, "Resource", resource, ignore_case=False):
                continue
            if not _conditions_hold(statement.get("Condition") or {}, context):
                continue
            if statement.get("Effect") == "Deny":
                return "explicitDeny"
            decision = "allowed"
    return decision


def _documents(role: Any) -> list[dict[str, Any]]:
    documents = [_load(document) for document in role.policies.values()]
    for policy in role.managed_policies.values():
        default = next(v for v in policy.versions if v.is_default)
        documents.append(_load(default.document))
    return documents


def _load(document: Any) -> dict[str, Any]:
    if isinstance(document, dict):
        return document
    text = str(document)
    loaded: dict[str, Any] = json.loads(unquote(text) if text.startswith("%7B") else text)
    return loaded


@contextmanager
def patched() -> Iterator[None]:
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import ValidationError
    from moto.iam.responses import IamResponse

    def simulate_principal_policy(self: IamResponse) -> ActionResult:
        source = self._get_param("PolicySourceArn")
        actions = self._get_param("ActionNames") or []
        resources = self._get_param("ResourceArns") or ["*"]
        entries = self._get_param("ContextEntries") or []
        if ":role/" not in source:
            raise ValidationError("the sandbox simulates roles only")
        role = self.backend.get_role(source.rsplit("/", 1)[-1])
        context = {
            e["ContextKeyName"].lower(): [str(v) for v in e.get("ContextKeyValues", [])]
            for e in entries
        }
        documents = _documents(role)
        results = []
        try:
            for action in actions:
                for resource in resources:
                    results.append(
                        {
                            "EvalActionName": action,
                            "EvalResourceName": resource,
                            "EvalDecision": decide(documents, action, resource, context),
                            "MatchedStatements": [],
                            "MissingContextValues": [],
                        }
                    )
        except UnsupportedConditionError as exc:
            raise ValidationError(
                f"the sandbox does not evaluate the condition operator {exc}"
            ) from None
        return ActionResult({"EvaluationResults": results, "IsTruncated": False})

    IamResponse.simulate_principal_policy = simulate_principal_policy  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del IamResponse.simulate_principal_policy  # type: ignore[attr-defined]
