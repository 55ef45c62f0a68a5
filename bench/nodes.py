"""Every-node proof: `rotation.proof.prove` with the real RedisVerifier over TLS, beside
the floor measured in the same run.

    python -m bench.nodes --out FILE [--quick]

Starts 20 real redis-server processes on loopback, each with TLS and a certificate for `localhost`
from one throw-away CA (CA_BUNDLE_PATH's role), so certificate and host-name verification run as
on MemoryDB. Measures, in this one process:

- verification: wall time and client CPU (process CPU of all threads) of one proof over 1, 6 and
  20 nodes, and the floor: the same number of bare TLS connect + `AUTH` exchanges (ssl + socket,
  no redis-py, no project code) at the same concurrency (rotation.proof's pool size), with a TLS
  context built once as the verifier's is. Proof and floor alternate, and which goes first too.
- concurrency: the same proofs through bench.delay_proxy (another process) adding a 20 ms round
  trip to every connection: 20 nodes against 1 node, with the floor's ratio beside it.

The servers and the proxy are other processes: their CPU is not the client's. Writes the samples
to FILE as JSON; bench.figures.node_figures turns them into figures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.common import ROOT, function_env
from rotation.adapters.redis_verifier import RedisVerifier
from rotation.models import Endpoint, Node
from rotation.proof import MAX_CONCURRENT_NODES, prove

USER = "bench-node-user"
NODE_COUNTS = (1, 6, 20)
ROUND_TRIP_SECONDS = 0.020
TIMEOUT_SECONDS = 5.0
# One proof is a few ms on loopback: many samples, so the median is not one scheduler hiccup.
RUNS = {"verification": 31, "delayed": 15}
QUICK_RUNS = {"verification": 7, "delayed": 5}


def auth_command(username: str, password: str) -> bytes:
    """`AUTH username password` in RESP2, as any client sends it."""
    parts = [b"AUTH", username.encode(), password.encode()]
    return b"*3\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)


def bare_exchange(context: ssl.SSLContext, endpoint: Endpoint, command: bytes) -> bool:
    """One TLS connection, one AUTH, its reply: the least any verifier must do per node."""
    raw = socket.create_connection((endpoint.host, endpoint.port), timeout=TIMEOUT_SECONDS)
    # As every redis client does (redis-py included): without it Nagle holds the AUTH behind the
    # handshake's last message until a delayed ACK, 40 ms on Linux.
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with context.wrap_socket(raw, server_hostname=endpoint.host) as tls:
        tls.sendall(command)
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = tls.recv(256)
            if not chunk:
                break
            reply += chunk
    return reply.startswith(b"+OK")


def bare_round(context: ssl.SSLContext, endpoints: Sequence[Endpoint], command: bytes) -> int:
    """Every endpoint once, at rotation.proof's concurrency; how many accepted."""
    workers = max(1, min(MAX_CONCURRENT_NODES, len(endpoints)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(lambda e: bare_exchange(context, e, command), endpoints))


def proof_round(verifier: RedisVerifier, nodes: Sequence[Node], password: SecretStr) -> int:
    proof = prove(verifier, nodes, USER, password, seconds=60.0, clock=time.monotonic)
    return len(proof.accepted)


def timed(run: Callable[[], int], expected: int) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    accepted = run()
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "ok": accepted == expected,
    }


def alternate(
    runs: int, first: Callable[[], dict[str, Any]], second: Callable[[], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`runs` samples of each after one unmeasured warm-up of each, alternating which goes
    first, so drift of the machine hits both alike."""
    first()
    second()
    a: list[dict[str, Any]] = []
    b: list[dict[str, Any]] = []
    for i in range(runs):
        if i % 2 == 0:
            a.append(first())
            b.append(second())
        else:
            b.append(second())
            a.append(first())
    return a, b


@contextmanager
def node_fleet(count: int, workdir: Path, password: str) -> Iterator[tuple[list[Endpoint], Path]]:
    """`count` TLS redis-servers on loopback holding USER with `password`; their endpoints and
    the CA bundle that verifies them."""
    # Imported here: the sandbox package loads moto, and a child process's peak RSS
    # (ru_maxrss) starts from its parent's at fork.
    from bench.fleet import running_servers
    from sandbox.tls import make_tls_files

    tls = make_tls_files(workdir)
    with running_servers(count, tls) as servers:
        for server in servers:
            server.apply_user(USER, "on ~* +@all", [password])
        yield [Endpoint(server.host, server.port, tls=True) for server in servers], tls.ca_cert


@contextmanager
def delayed(endpoints: Sequence[Endpoint], round_trip: float) -> Iterator[list[Endpoint]]:
    """The endpoints behind bench.delay_proxy in another process; still `localhost`, so the
    certificate's host name is verified through the proxy."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.delay_proxy",
            "--round-trip",
            str(round_trip),
            *(f"127.0.0.1:{e.port}" for e in endpoints),
        ],
        cwd=ROOT,
        env=function_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            raise RuntimeError("bench.delay_proxy exited before it was ready")
        ports = json.loads(line)["ports"]
        yield [Endpoint(e.host, port, tls=True) for e, port in zip(endpoints, ports, strict=True)]
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _nodes(endpoints: Sequence[Endpoint]) -> list[Node]:
    return [Node(f"node-{i:04d}", "bench-cluster", e) for i, e in enumerate(endpoints, 1)]


def measure(quick: bool) -> dict[str, Any]:
    from rotation.passwords import generate

    runs = QUICK_RUNS if quick else RUNS
    password = generate(32)
    command = auth_command(USER, password.get_secret_value())
    result: dict[str, Any] = {
        "load": [os.getloadavg()[0]],
        "concurrency": MAX_CONCURRENT_NODES,
        "round_trip": ROUND_TRIP_SECONDS,
        "verification": {},
        "delayed": {},
    }
    with (
        tempfile.TemporaryDirectory(prefix="bench-nodes-") as workdir,
        node_fleet(max(NODE_COUNTS), Path(workdir), password.get_secret_value()) as (
            endpoints,
            ca_bundle,
        ),
    ):
        verifier = RedisVerifier(ca_bundle=ca_bundle, timeout_seconds=TIMEOUT_SECONDS)
        # The floor's context is built once too, with the same verification.
        context = verifier.tls_context()

        def compare(
            endpoints_: Sequence[Endpoint], section: str
        ) -> dict[str, list[dict[str, Any]]]:
            nodes = _nodes(endpoints_)
            count = len(endpoints_)

            def proof() -> dict[str, Any]:
                return timed(lambda: proof_round(verifier, nodes, password), count)

            def floor() -> dict[str, Any]:
                return timed(lambda: bare_round(context, endpoints_, command), count)

            proofs, floors = alternate(runs[section], proof, floor)
            return {"proof": proofs, "floor": floors}

        for count in NODE_COUNTS:
            result["verification"][str(count)] = compare(endpoints[:count], "verification")
        with delayed(endpoints, ROUND_TRIP_SECONDS) as slow:
            for count in (1, max(NODE_COUNTS)):
                result["delayed"][str(count)] = compare(slow[:count], "delayed")
    result["load"].append(os.getloadavg()[0])
    return result


def full_rotation(nodes: int = max(NODE_COUNTS), propagation_delay: float = 0.5) -> dict[str, Any]:
    """One full rotation through the handler, in a process of its own (peak RSS), against the
    served sandbox in another process, whose cluster has `nodes` TLS nodes (one real server each);
    with the AWS actions of every invocation and the peak RSS of `import boto3` alone."""
    from bench.memory import RemoteAws, baseline_kb, rotate_remotely

    with RemoteAws(propagation_delay, nodes=nodes, servers=nodes) as server:
        result = rotate_remotely(server)
        result["nodes"] = server.info["nodes"]
    result["baseline_kb"] = baseline_kb()
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    args.out.write_text(json.dumps(measure(args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
