"""The verifier against a scripted TLS peer: replies no redis-server would give, on purpose.

Each connection the peer accepts answers the AUTHs it receives from its own list of replies
(bytes sent as they are; one that starts with "!" is sent unasked, 0.2 s after the one before),
then waits for the client to close. What the client does next is what
is under test: an error reply is "unreachable" naming its word only, a connection that is out of
step (bytes waiting before an AUTH) is replaced, a garbled reply on a reused connection is decided
by one new connection.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from rotation.adapters.redis_verifier import RedisVerifier
from rotation.errors import ClusterUnreachableError
from rotation.models import Endpoint
from sandbox.tls import SERVER_NAME, TestAuthority

PASSWORD = SecretStr("Scripted-password-0123456789")


class ScriptedPeer:
    """A TLS listener on 127.0.0.1 whose n-th connection answers with `scripts[n]`."""

    def __init__(self, authority: TestAuthority, scripts: list[list[bytes]]) -> None:
        files = authority.issue(SERVER_NAME, label="scripted")
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(files.server_cert, files.server_key)
        self._scripts = scripts
        self.connections = 0
        self.auths: list[int] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            script = self._scripts[min(self.connections, len(self._scripts) - 1)]
            self.connections += 1
            threading.Thread(target=self._answer, args=(raw, list(script)), daemon=True).start()

    def _answer(self, raw: socket.socket, replies: list[bytes]) -> None:
        try:
            with self._context.wrap_socket(raw, server_side=True) as tls:
                received = 0
                while replies:
                    if replies[0].startswith(b"!"):
                        # Unasked: sent without waiting for a command.
                        time.sleep(0.2)
                        tls.sendall(replies.pop(0)[1:])
                        continue
                    data = tls.recv(4096)
                    if not data:
                        return
                    received += data.count(b"AUTH")
                    self.auths.append(received)
                    tls.sendall(replies.pop(0))
                while tls.recv(4096):
                    pass
        except OSError:
            return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TestAuthority:
    return TestAuthority(Path(tmp_path_factory.mktemp("scripted-ca")))


@pytest.fixture
def peer(request: pytest.FixtureRequest, authority: TestAuthority) -> Iterator[ScriptedPeer]:
    started = ScriptedPeer(authority, request.param)
    yield started
    started.close()


def _verifier(authority: TestAuthority) -> RedisVerifier:
    return RedisVerifier(ca_bundle=authority.ca_cert, timeout_seconds=2)


def _endpoint(peer: ScriptedPeer) -> Endpoint:
    return Endpoint(SERVER_NAME, peer.port, tls=True)


@pytest.mark.parametrize("peer", [[[b"-ERR unknown command 'AUTH'\r\n"]]], indirect=True)
def test_an_error_reply_is_unreachable_naming_its_word(
    authority: TestAuthority, peer: ScriptedPeer
) -> None:
    with pytest.raises(ClusterUnreachableError) as raised:
        _verifier(authority).authenticates(_endpoint(peer), "app-user", PASSWORD)

    assert "unknown command" not in str(raised.value)  # the peer's text is not repeated
    assert raised.value.__context__ is None
    assert raised.value.__cause__ is None


@pytest.mark.parametrize("peer", [[[b"+OK\r\n", b"!+OK\r\n"], [b"+OK\r\n"]]], indirect=True)
def test_a_connection_out_of_step_is_replaced(authority: TestAuthority, peer: ScriptedPeer) -> None:
    """The first connection sent a second reply nobody asked for: reading it as the next AUTH's
    answer would prove nothing, so the next AUTH goes on a new connection."""
    verifier = _verifier(authority)
    with verifier.session():
        assert verifier.authenticates(_endpoint(peer), "app-user", PASSWORD)
        time.sleep(0.6)  # the unasked reply is waiting on the kept connection
        assert verifier.authenticates(_endpoint(peer), "app-user", PASSWORD)

    assert peer.connections == 2


@pytest.mark.parametrize(
    "peer", [[[b"+OK\r\n", b"$garbled\r\n"], [b"-WRONGPASS no\r\n"]]], indirect=True
)
def test_a_garbled_reply_on_a_reused_connection_is_decided_by_a_new_one(
    authority: TestAuthority, peer: ScriptedPeer
) -> None:
    verifier = _verifier(authority)
    with verifier.session():
        assert verifier.authenticates(_endpoint(peer), "app-user", PASSWORD)
        assert not verifier.authenticates(_endpoint(peer), "app-user", PASSWORD)

    assert peer.connections == 2


def test_one_session_at_a_time(authority: TestAuthority) -> None:
    verifier = _verifier(authority)
    with verifier.session(), pytest.raises(RuntimeError, match="already open"), verifier.session():
        pass


def test_a_socket_error_of_no_known_kind_is_named_by_its_type(
    authority: TestAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(*_: object, **__: object) -> socket.socket:
        raise PermissionError("the text of the error is never repeated")

    monkeypatch.setattr(socket, "create_connection", denied)
    with pytest.raises(ClusterUnreachableError, match=r"\(PermissionError\)") as raised:
        _verifier(authority).authenticates(Endpoint(SERVER_NAME, 1), "app-user", PASSWORD)
    assert raised.value.reason == "PermissionError"
