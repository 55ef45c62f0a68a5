"""Proving one password on every node: what counts as proven, and what stops a proof."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import SecretStr

from rotation.errors import ClusterUnreachableError
from rotation.models import Endpoint, Node
from rotation.proof import Proof, prove

NODES = tuple(Node(f"n{i}", "c1", Endpoint(f"n{i}.example.internal", 6379)) for i in (1, 2))


class ScriptedVerifier:
    """Answers per host: True, False, or an exception to raise."""

    timeout_seconds = 1.0

    def __init__(self, answers: dict[str, bool | BaseException]) -> None:
        self.answers = answers

    def authenticates(self, endpoint: Endpoint, username: str, password: SecretStr) -> bool:
        answer = self.answers[endpoint.host]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def _prove(verifier: object, seconds: float = 5.0) -> Proof:
    return prove(
        verifier,  # type: ignore[arg-type]
        NODES,
        "app-user",
        SecretStr("Password-0123456789abcdef"),
        seconds=seconds,
        clock=time.monotonic,
    )


def test_nothing_accepted_is_not_everywhere() -> None:
    assert not Proof().everywhere
    assert not Proof(accepted=NODES[:1], unreachable={"c1/n2": "timed out"}).everywhere
    assert Proof(accepted=NODES).everywhere


def test_a_refusal_and_an_unreachable_node_are_both_named() -> None:
    proof = _prove(
        ScriptedVerifier(
            {
                "n1.example.internal": False,
                "n2.example.internal": ClusterUnreachableError("x", reason="timed out"),
            }
        )
    )
    assert (proof.accepted, proof.rejected, proof.unreachable) == (
        (),
        NODES[:1],
        {"c1/n2": "timed out"},
    )


def test_a_verifier_bug_is_not_read_as_a_refusal() -> None:
    verifier = ScriptedVerifier(
        {"n1.example.internal": True, "n2.example.internal": ValueError("bug")}
    )
    with pytest.raises(ValueError, match="bug"):
        _prove(verifier)


class SilentNode(ScriptedVerifier):
    """n2 answers only after `release` is set (or two seconds pass)."""

    def __init__(self) -> None:
        super().__init__({"n1.example.internal": True, "n2.example.internal": True})
        self.release = threading.Event()

    def authenticates(self, endpoint: Endpoint, username: str, password: SecretStr) -> bool:
        if endpoint.host == "n2.example.internal":
            self.release.wait(2.0)
        return super().authenticates(endpoint, username, password)


def test_a_node_that_does_not_answer_in_time_is_unreachable() -> None:
    verifier = SilentNode()
    try:
        proof = _prove(verifier, seconds=0.05)
    finally:
        verifier.release.set()
    assert proof.accepted == NODES[:1]
    assert proof.unreachable == {"c1/n2": "no answer before the step's time ran out"}
