"""A node reached over IPv6, as a MemoryDB cluster with IpDiscovery=ipv6 announces its nodes.

The function's verifier (rotation.adapters.redis_verifier.RedisVerifier) connects through
redis-py, which resolves the node's name with socket.getaddrinfo and connects to whichever
address family comes back. Here a real redis-server listens on the IPv6 loopback only, with a
TLS certificate for the name the client asks for, and the verifier must prove the password there:
once by address (`::1`, certificate with that IP in its subjectAltName) and once by a host name
that resolves to `::1` alone (the only thing patched is that name's DNS answer, as MemoryDB's
DNS would give it; the socket, TLS with host-name verification and AUTH are real).
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import trustme
from pydantic import SecretStr

from rotation.adapters.redis_verifier import RedisVerifier
from rotation.models import Endpoint

NODE_NAME = "node-0001.ipv6-cluster.test"
USER = "app-user"


def _ipv6_loopback() -> str | None:
    """None when ::1 can be bound here, else why not (the reason the tests are skipped)."""
    if not socket.has_ipv6:
        return "this Python has no IPv6 support"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        return f"no IPv6 loopback on this machine ({exc.strerror})"
    return None


_NO_IPV6 = _ipv6_loopback()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(_NO_IPV6 is not None, reason=_NO_IPV6 or ""),
]


def _free_ipv6_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.bind(("::1", 0))
        return int(sock.getsockname()[1])


class Ipv6Node:
    """redis-server bound to ::1 only, TLS, one ACL user with one password."""

    def __init__(self, directory: Path, ca: trustme.CA) -> None:
        self.port = _free_ipv6_port()
        self.password = secrets.token_urlsafe(24)
        self.ca_cert = directory / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_cert))
        leaf = ca.issue_cert(NODE_NAME, "::1")
        cert, key = directory / "node.pem", directory / "node.key"
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        key.write_bytes(leaf.private_key_pem.bytes())
        config = directory / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "bind ::1",
                    "port 0",
                    f"tls-port {self.port}",
                    f"tls-cert-file {cert}",
                    f"tls-key-file {key}",
                    f"tls-ca-cert-file {self.ca_cert}",
                    "tls-auth-clients no",
                    f"dir {directory}",
                    'save ""',
                    "appendonly no",
                    "user default off",
                    f"user {USER} on >{self.password} ~* &* +@all",
                ]
            )
            + "\n"
        )
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (make install)")
        self.process = subprocess.Popen(
            [binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline, pause = time.monotonic() + timeout, 0.005
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("redis-server exited at start")
            client = redis.Redis(
                host="::1",
                port=self.port,
                ssl=True,
                ssl_ca_certs=str(self.ca_cert),
                username=USER,
                password=self.password,
                socket_timeout=2,
            )
            try:
                client.ping()
            except redis.ConnectionError:
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
            else:
                return
            finally:
                client.close()
        raise RuntimeError(f"redis-server on [::1]:{self.port} did not answer")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def node() -> Iterator[Ipv6Node]:
    with tempfile.TemporaryDirectory(prefix="ipv6-node-") as directory:
        started = Ipv6Node(Path(directory), trustme.CA(organization_name="ipv6 test CA"))
        try:
            yield started
        finally:
            started.stop()


@pytest.fixture
def resolves_to_ipv6_only(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """NODE_NAME has an AAAA answer (::1) and no A answer; every other name resolves as usual."""
    real = socket.getaddrinfo
    asked: list[tuple[Any, ...]] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == NODE_NAME:
            answers = real("::1", *args, **kwargs)
            asked.extend(answers)
            return answers
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def _verifier(node: Ipv6Node) -> RedisVerifier:
    return RedisVerifier(ca_bundle=node.ca_cert, timeout_seconds=5)


def test_the_server_listens_on_ipv6_only(node: Ipv6Node) -> None:
    """So a proof below cannot have gone over IPv4."""
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", node.port), timeout=2),
    ):
        pass
    with socket.create_connection(("::1", node.port), timeout=2) as connection:
        assert connection.family == socket.AF_INET6


def test_auth_is_proven_on_a_node_by_its_ipv6_address(node: Ipv6Node) -> None:
    endpoint = Endpoint(host="::1", port=node.port, tls=True)

    assert _verifier(node).authenticates(endpoint, USER, SecretStr(node.password)) is True
    assert _verifier(node).authenticates(endpoint, USER, SecretStr("x" * 32)) is False


def test_auth_is_proven_on_a_node_whose_name_resolves_to_ipv6(
    node: Ipv6Node, resolves_to_ipv6_only: list[tuple[Any, ...]]
) -> None:
    endpoint = Endpoint(host=NODE_NAME, port=node.port, tls=True)

    assert _verifier(node).authenticates(endpoint, USER, SecretStr(node.password)) is True
    assert _verifier(node).authenticates(endpoint, USER, SecretStr("x" * 32)) is False
    assert resolves_to_ipv6_only
    assert {answer[0] for answer in resolves_to_ipv6_only} == {socket.AF_INET6}


def test_the_ipv6_node_still_verifies_the_host_name(
    node: Ipv6Node, resolves_to_ipv6_only: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """IPv6 changes the route, not the trust: a name the certificate does not carry fails."""
    real = socket.getaddrinfo
    other = "other-node.ipv6-cluster.test"
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *a, **k: real("::1" if host == other else host, *a, **k),
    )
    from rotation.errors import ClusterUnreachableError

    with pytest.raises(ClusterUnreachableError, match="not for this host name"):
        _verifier(node).authenticates(
            Endpoint(host=other, port=node.port, tls=True), USER, SecretStr(node.password)
        )
