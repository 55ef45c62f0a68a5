"""The verifier on real redis-server processes over TLS: the AUTH reply, the trust, the name."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from rotation import errors
from rotation.adapters.redis_verifier import RedisVerifier
from rotation.models import Endpoint
from sandbox.redis_server import RedisServer, free_port
from sandbox.tls import TestAuthority, TlsFiles, independent_tls_files

PW1 = "First-password-0123456789abcdef"
PW2 = "Second-password-0123456789abcdef"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TestAuthority:
    return TestAuthority(Path(tmp_path_factory.mktemp("verifier-ca")))


@pytest.fixture(scope="module")
def server(authority: TestAuthority) -> Iterator[RedisServer]:
    with RedisServer(tls=authority.issue()) as started:
        started.apply_user("app-user", "on ~* +@all", [PW1])
        yield started


def _endpoint(server: RedisServer) -> Endpoint:
    return Endpoint(server.host, server.port, tls=True)


def _trusting(authority: TestAuthority) -> RedisVerifier:
    return RedisVerifier(ca_bundle=authority.ca_cert, timeout_seconds=2)


def test_the_auth_reply_decides(authority: TestAuthority, server: RedisServer) -> None:
    verifier = _trusting(authority)
    assert verifier.authenticates(_endpoint(server), "app-user", SecretStr(PW1))
    assert not verifier.authenticates(_endpoint(server), "app-user", SecretStr(PW2))
    assert not verifier.authenticates(_endpoint(server), "nobody", SecretStr(PW1))


def test_nothing_but_auth_is_sent(authority: TestAuthority, server: RedisServer) -> None:
    # A user allowed no command at all is proven by AUTH alone: no PING, no CLIENT SETINFO.
    server.apply_user("locked-down", "on ~app:* -@all", [PW2])
    server.admin.config_resetstat()

    assert _trusting(authority).authenticates(_endpoint(server), "locked-down", SecretStr(PW2))

    stats = server.admin.info("commandstats")
    sent = {name.removeprefix("cmdstat_") for name in stats} - {"info", "config|resetstat"}
    assert sent == {"auth"}


def test_a_certificate_for_another_name_is_refused_for_its_name(
    authority: TestAuthority, server: RedisServer
) -> None:
    # The certificate names `localhost` only; asked for by address, the name does not match.
    with pytest.raises(errors.ClusterUnreachableError, match="not for this host name") as raised:
        _trusting(authority).authenticates(
            Endpoint("127.0.0.1", server.port), "app-user", SecretStr(PW1)
        )
    assert raised.value.reason == "TLS certificate is not for this host name"


def test_the_bundle_is_the_only_trust(authority: TestAuthority, tmp_path: Path) -> None:
    # Trusted by its own CA (as a public CA is trusted by the system store), not by the bundle.
    other: TlsFiles = independent_tls_files(tmp_path)
    with RedisServer(tls=other) as elsewhere:
        elsewhere.apply_user("app-user", "on ~* +@all", [PW1])
        endpoint = Endpoint("localhost", elsewhere.port)
        assert RedisVerifier(ca_bundle=other.ca_cert).authenticates(
            endpoint, "app-user", SecretStr(PW1)
        )
        for verifier in (_trusting(authority), RedisVerifier(timeout_seconds=2)):
            with pytest.raises(errors.ClusterUnreachableError, match="did not verify"):
                verifier.authenticates(endpoint, "app-user", SecretStr(PW1))


class CountingListener:
    """A TCP port that counts the connections it is offered and closes them at once."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_a_plaintext_endpoint_is_never_contacted() -> None:
    listener = CountingListener()
    try:
        with pytest.raises(errors.ClusterUnreachableError, match="never sent in clear"):
            RedisVerifier(timeout_seconds=1).authenticates(
                Endpoint("127.0.0.1", listener.port, tls=False), "app-user", SecretStr(PW1)
            )
    finally:
        listener.close()
    assert listener.connections == 0


def test_a_closed_port_is_reported_as_refused(authority: TestAuthority) -> None:
    with pytest.raises(errors.ClusterUnreachableError, match="connection refused") as raised:
        _trusting(authority).authenticates(
            Endpoint("localhost", free_port()), "app-user", SecretStr(PW1)
        )
    assert PW1 not in str(raised.value)
    assert raised.value.__context__ is None
