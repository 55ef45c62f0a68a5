"""TEMP stand-in for the lead's rotation/proof.py (replaced when main lands it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import SecretStr

from rotation.errors import ClusterUnreachableError
from rotation.models import Node
from rotation.ports import CredentialVerifier


@dataclass(frozen=True)
class Proof:
    accepted: tuple[Node, ...]
    rejected: tuple[Node, ...]
    unreachable: dict[str, str] = field(default_factory=dict)

    @property
    def everywhere(self) -> bool:
        return not self.rejected and not self.unreachable

    def describe(self) -> str:
        return f"{len(self.accepted)} accepted"


def prove(
    verifier: CredentialVerifier,
    nodes: Sequence[Node],
    username: str,
    password: SecretStr,
    *,
    deadline: float | None,
    clock: Callable[[], float] = time.monotonic,
) -> Proof:
    accepted: list[Node] = []
    rejected: list[Node] = []
    unreachable: dict[str, str] = {}
    for node in nodes:
        try:
            ok = verifier.authenticates(node.endpoint, username, password)
        except ClusterUnreachableError as exc:
            unreachable[node.name] = str(exc)
            continue
        (accepted if ok else rejected).append(node)
    return Proof(tuple(accepted), tuple(rejected), unreachable)
