"""Counting the function's AWS calls per step, and the ones one earlier answer could have served.

Hooks botocore's `before-call`/`after-call` events on every boto3 client built after `install()`,
whichever session built it. A request counts as repeated when the same operation with the same
parameters was already answered in the same invocation and that answer was final; a poll of a
user that was still `modifying` is not final, so polling is not counted as a repeat. Across
invocations nothing is compared: a new invocation must read again what may have changed.
Requests are compared by a digest kept in memory; no parameter (a password travels in UpdateUser
and PutSecretValue) is ever stored or printed.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


def request_digest(operation: str, params: dict[str, Any]) -> str:
    body = params.get("body", b"")
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = repr(body).encode()
    digest = hashlib.sha256()
    for part in (operation, str(params.get("url_path", "")), repr(params.get("query_string"))):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


def answer_is_final(operation: str, parsed: dict[str, Any]) -> bool:
    """A status poll of a user that is not yet `active` may get a different answer next time."""
    if operation == "DescribeUsers":
        users = parsed.get("Users") or []
        return all(user.get("Status") == "active" for user in users)
    return True


@dataclass
class StepCalls:
    step: str
    calls: Counter[str] = field(default_factory=Counter)
    repeated: Counter[str] = field(default_factory=Counter)


@dataclass
class CallLog:
    invocations: list[StepCalls] = field(default_factory=list)
    _answered: set[str] = field(default_factory=set)
    _pending: dict[int, str] = field(default_factory=dict)

    def start_invocation(self, step: str) -> None:
        self.invocations.append(StepCalls(step))
        self._answered = set()
        self._pending = {}

    def before_call(self, operation: str, params: dict[str, Any], context: dict[str, Any]) -> None:
        if not self.invocations:
            return
        current = self.invocations[-1]
        key = request_digest(operation, params)
        current.calls[operation] += 1
        if key in self._answered:
            current.repeated[operation] += 1
        self._pending[id(context)] = key

    def after_call(self, operation: str, parsed: dict[str, Any], context: dict[str, Any]) -> None:
        key = self._pending.pop(id(context), None)
        if key is not None and answer_is_final(operation, parsed):
            self._answered.add(key)

    def install(self) -> Callable[[], None]:
        """Register on every boto3 client built afterwards, whatever its session: the adapters
        build their own sessions, whose events a hook on boto3's default session never sees.
        Returns what undoes it (clients already built keep reporting)."""
        import boto3.session

        original = boto3.session.Session.client
        if getattr(original, "_bench_calllog", False):
            raise RuntimeError("a CallLog is already installed in this process")

        def before(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            self.before_call(model.name, params, context)

        def after(model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            self.after_call(model.name, parsed, context)

        def client(session: boto3.session.Session, *args: Any, **kwargs: Any) -> Any:
            made = original(session, *args, **kwargs)
            made.meta.events.register("before-call", before, unique_id="bench-calllog-before")
            made.meta.events.register("after-call", after, unique_id="bench-calllog-after")
            return made

        client._bench_calllog = True  # type: ignore[attr-defined]
        boto3.session.Session.client = client  # type: ignore[assignment,method-assign]

        def uninstall() -> None:
            boto3.session.Session.client = original  # type: ignore[method-assign]

        return uninstall

    def per_step(self) -> dict[str, StepCalls]:
        """Calls summed per step name over the invocations (in first-seen order)."""
        merged: dict[str, StepCalls] = {}
        for invocation in self.invocations:
            target = merged.setdefault(invocation.step, StepCalls(invocation.step))
            target.calls.update(invocation.calls)
            target.repeated.update(invocation.repeated)
        return merged


@contextmanager
def served_actions() -> Iterator[list[str]]:
    """Every AWS action moto serves in this process while open, by name, in order: what was
    asked of AWS, retries included, whoever asked. Only names are kept."""
    from moto.core.responses import BaseResponse

    actions: list[str] = []
    original = BaseResponse.call_action

    def call_action(response: BaseResponse) -> Any:
        actions.append(response._get_action())
        return original(response)

    BaseResponse.call_action = call_action  # type: ignore[method-assign,assignment]
    try:
        yield actions
    finally:
        BaseResponse.call_action = original  # type: ignore[method-assign]
