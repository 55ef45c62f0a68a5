"""Proving one password on every node MemoryDB names, concurrently and within a deadline.

A cluster endpoint answering OK proves one node: the configuration endpoint accepted a new
password 1.56 s before the last replica did in a local 3-shard x 2-node run (docs/domain.md).
Each node gets its own connection, with the verifier's own timeout; a bounded pool keeps a
500-node cluster from opening 500 sockets at once on a 128 MB Lambda.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import SecretStr

from rotation.errors import ClusterUnreachableError
from rotation.models import Node
from rotation.ports import CredentialVerifier

MAX_CONCURRENT_NODES = 16


@dataclass(frozen=True)
class Proof:
    """Which nodes accepted, refused or could not be asked. Never holds a password."""

    accepted: tuple[Node, ...] = ()
    rejected: tuple[Node, ...] = ()
    unreachable: dict[str, str] = field(default_factory=dict)
    """Node (cluster/name) -> why it could not be asked."""

    @property
    def everywhere(self) -> bool:
        return not self.rejected and not self.unreachable and bool(self.accepted)

    def describe(self) -> str:
        """`refused on c1/n2, c1/n3; unreachable: c2/n1 (timed out)`."""
        parts = []
        if self.rejected:
            parts.append("refused on " + ", ".join(sorted(str(n) for n in self.rejected)))
        if self.unreachable:
            parts.append(
                "unreachable: "
                + ", ".join(f"{name} ({why})" for name, why in sorted(self.unreachable.items()))
            )
        return "; ".join(parts) or f"accepted on all {len(self.accepted)} nodes"


def prove(
    verifier: CredentialVerifier,
    nodes: Sequence[Node],
    username: str,
    password: SecretStr,
    *,
    seconds: float,
    clock: Callable[[], float],
) -> Proof:
    """Ask every node at once (at most MAX_CONCURRENT_NODES in flight); nodes not answered within
    `seconds` count as unreachable. A verifier error other than ClusterUnreachableError is a bug
    and propagates."""

    # Imported here: steps that prove nothing (a retried step with nothing to do) skip it.
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    def ask(node: Node) -> bool:
        return verifier.authenticates(node.endpoint, username, password)

    accepted: list[Node] = []
    rejected: list[Node] = []
    unreachable: dict[str, str] = {}
    workers = max(1, min(MAX_CONCURRENT_NODES, len(nodes)))
    deadline = clock() + max(0.0, seconds)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prove")
    try:
        futures = {pool.submit(ask, node): node for node in nodes}
        pending = set(futures)
        while pending:
            done, pending = wait(
                pending, timeout=max(0.0, deadline - clock()), return_when=FIRST_EXCEPTION
            )
            for future in done:
                node = futures[future]
                error = future.exception()
                if isinstance(error, ClusterUnreachableError):
                    unreachable[str(node)] = error.reason
                elif error is not None:
                    raise error
                elif future.result():
                    accepted.append(node)
                else:
                    rejected.append(node)
            if pending and clock() >= deadline:
                for future in pending:
                    future.cancel()
                    unreachable[str(futures[future])] = "no answer before the step's time ran out"
                break
    finally:
        # Running connections end by their own socket timeout; do not wait for them here.
        pool.shutdown(wait=False, cancel_futures=True)
    order = {node: i for i, node in enumerate(nodes)}
    return Proof(
        accepted=tuple(sorted(accepted, key=order.__getitem__)),
        rejected=tuple(sorted(rejected, key=order.__getitem__)),
        unreachable=unreachable,
    )
