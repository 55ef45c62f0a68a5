"""CredentialVerifier over a node's data plane: a TLS socket and one `AUTH username password`.

The AUTH reply itself is the proof, and the only command ever sent: `+OK` accepts, `-WRONGPASS`
refuses, anything else is not an answer about the password (the node counts as unreachable, with
the reply's error word as the reason, never the rest of its text). A least-privilege user may not
run PING, and a NOPERM on it would prove nothing about the password.

Why a socket and not redis-py: the function sends one command and reads one line. redis-py's
import (which pulls in its asyncio package) cost more CPU than `import boto3` at a 128 MB
Lambda's share (docs/performance-lambda.md); the RESP2 exchange is a few lines, tested on its own
(every reply kind, split at every byte) and against real redis-server/valkey-server nodes.

Passwords travel only over TLS that verifies the certificate and the host name; there is no
plaintext path. Trust: with CA_BUNDLE_PATH set, that bundle is the ONLY trust (a publicly trusted
certificate for another server does not pass); unset, the system store. The context is built once
per container and shared by every connection (loading a CA store costs more than a handshake).

Connections: outside `session()` each AUTH has its own connection, closed after the reply. Inside
it (one Lambda invocation) a node's connection stays open and the next AUTH is re-sent on it:
the server checks every AUTH against the user's passwords as they are at that moment, so a
re-sent AUTH proves exactly what a new connection would, without another TLS handshake. A
connection the node closed between two AUTHs is reconnected once; if that fails too, the node is
unreachable. Every connection is closed when the session ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from rotation.errors import ClusterUnreachableError
from rotation.models import Endpoint

if TYPE_CHECKING:
    import socket
    import ssl

MAX_REPLY_BYTES = 512
"""An AUTH reply is one short line (`-WRONGPASS invalid username-password pair or user is
disabled.` is the longest the engines send); more than this without a line end is not one."""


MAX_KEPT_CONNECTIONS = 768
"""Open connections a session keeps between AUTHs. Lambda allows a function 1,024 file
descriptors (documented, Lambda quotas); boto3, the proof's workers and the runtime need some.
Nodes beyond this many get a connection per AUTH, as outside a session: slower, never wrong."""


class ReplyError(Exception):
    """The node's answer is not an AUTH verdict. `reason` is safe to log: the error word of an
    error reply (letters only), or what was wrong with the bytes; never the reply's text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectionClosedError(ConnectionError):
    """The node closed the connection before a whole reply line arrived."""


def auth_command(username: str, password: str) -> bytes:
    """`AUTH username password` as a RESP2 array of bulk strings (lengths in bytes)."""
    parts = (b"AUTH", username.encode(), password.encode())
    return b"*3\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)


def parse_auth_reply(buffer: bytes) -> bool | None:
    """The verdict in `buffer`, the bytes read so far: True for `+OK`, False for `-WRONGPASS`,
    None while no whole line has arrived. Raises ReplyError for anything else: another error,
    another simple string, another RESP type, bytes after the line, or an over-long line."""
    end = buffer.find(b"\r\n")
    if end < 0:
        if len(buffer) > MAX_REPLY_BYTES:
            raise ReplyError("reply too long")
        return None
    if end + 2 != len(buffer):
        # One command, one reply: more bytes would be read as the next AUTH's answer.
        raise ReplyError("more than one reply")
    line = buffer[:end]
    if line == b"+OK":
        return True
    if line.startswith(b"-"):
        word = line[1:].split(b" ", 1)[0]
        if word == b"WRONGPASS":
            return False
        if word.isalpha() and word.isupper() and len(word) <= 16:
            raise ReplyError(f"node answered {word.decode()}")
        raise ReplyError("unexpected error reply")
    raise ReplyError("unexpected reply")


class _Connection:
    """One TLS connection to one node, used by one thread at a time."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self._sock = sock

    def auth(self, command: bytes) -> bool:
        self._sock.sendall(command)
        buffer = b""
        while True:
            chunk = self._sock.recv(MAX_REPLY_BYTES + 2 - len(buffer))
            if not chunk:
                raise ConnectionClosedError("closed before a whole reply")
            buffer += chunk
            verdict = parse_auth_reply(buffer)
            if verdict is not None:
                return verdict

    def stale(self) -> bool:
        """Bytes (or the peer's close) already waiting before an AUTH is sent: the connection is
        out of step, and a reply read on it would answer something else."""
        import select

        # Decrypted bytes the TLS layer already holds (a plain socket holds none), or bytes (or
        # EOF) waiting on the socket.
        held = getattr(self._sock, "pending", lambda: 0)
        return held() > 0 or bool(select.select([self._sock], [], [], 0)[0])

    def close(self) -> None:
        with suppress(OSError):
            self._sock.close()


class RedisVerifier:
    def __init__(self, *, ca_bundle: Path | None = None, timeout_seconds: float = 5.0) -> None:
        self._ca_bundle = ca_bundle
        self.timeout_seconds = timeout_seconds
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._idle: dict[Endpoint, _Connection] | None = None
        """Open connections between AUTHs while a session is open; None outside one."""

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name verified; only the bundle's CAs when a bundle is set."""
        import ssl

        cafile = str(self._ca_bundle) if self._ca_bundle is not None else None
        # create_default_context loads the system store only when no cafile is given.
        context = ssl.create_default_context(cafile=cafile)
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _shared_context(self) -> ssl.SSLContext:
        # Nodes are proven from a thread pool: build the shared context once, under a lock.
        with self._lock:
            if self._context is None:
                self._context = self.tls_context()
            return self._context

    @contextmanager
    def session(self) -> Iterator[None]:
        """One connection per node for the duration (one invocation); all closed at its end."""
        with self._lock:
            if self._idle is not None:
                raise RuntimeError("a verifier session is already open")
            self._idle = {}
        try:
            yield
        finally:
            with self._lock:
                idle, self._idle = self._idle, None
            for connection in idle.values():
                connection.close()

    def authenticates(self, endpoint: Endpoint, username: str, password: SecretStr) -> bool:
        """True when the node answers OK to AUTH; False when it refuses the credentials."""
        if not endpoint.tls:
            raise ClusterUnreachableError(
                f"{endpoint} does not use TLS: a password is never sent in clear",
                reason="no TLS",
            )
        command = auth_command(username, password.get_secret_value())
        reused = self._take(endpoint)
        if reused is not None:
            verdict = self._ask_again(reused, command)
            if verdict is not None:
                self._give_back(endpoint, reused)
                return verdict
        reason = ""
        connection: _Connection | None = None
        try:
            connection = self._connect(endpoint)
            verdict = connection.auth(command)
        except ReplyError as exc:
            reason = exc.reason
        except OSError as exc:
            reason = _reason(exc)
        else:
            self._give_back(endpoint, connection)
            return verdict
        if connection is not None:
            connection.close()
        # Raised outside the `except`: nothing of the failed exchange (whose frames hold the
        # command, password included) is chained to the error.
        raise ClusterUnreachableError(f"cannot reach {endpoint} over TLS ({reason})", reason=reason)

    def _ask_again(self, connection: _Connection, command: bytes) -> bool | None:
        """AUTH on a connection left open by an earlier AUTH; None when the node closed it
        meanwhile (the caller connects once more)."""
        try:
            if not connection.stale():
                return connection.auth(command)
        except (ReplyError, OSError):
            # A timeout or a garbled reply on a live connection would repeat on a new one; a
            # closed or reset connection would not. Either way one new connection decides.
            pass
        connection.close()
        return None

    def _connect(self, endpoint: Endpoint) -> _Connection:
        import socket

        raw = socket.create_connection((endpoint.host, endpoint.port), timeout=self.timeout_seconds)
        try:
            # Without it Nagle holds the AUTH behind the handshake's last message until a
            # delayed ACK: 40 ms on Linux, per node.
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self._shared_context().wrap_socket(raw, server_hostname=endpoint.host)
        except BaseException:
            _close(raw)
            raise
        return _Connection(tls)

    def _take(self, endpoint: Endpoint) -> _Connection | None:
        with self._lock:
            return None if self._idle is None else self._idle.pop(endpoint, None)

    def _give_back(self, endpoint: Endpoint, connection: _Connection) -> None:
        with self._lock:
            if (
                self._idle is not None
                and endpoint not in self._idle
                and len(self._idle) < MAX_KEPT_CONNECTIONS
            ):
                self._idle[endpoint] = connection
                return
        # No session, or one ended while this AUTH ran, or another thread's connection to the
        # same endpoint is kept already, or the session keeps as many as it may.
        connection.close()


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.close()


# X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH (OpenSSL's x509_vfy.h).
_NAME_MISMATCH = frozenset({62, 64})


@cache
def _reasons() -> tuple[tuple[type[BaseException], str], ...]:
    """Most specific first: SSLCertVerificationError is an SSLError, and both are OSErrors."""
    import socket
    import ssl

    return (
        (ssl.SSLCertVerificationError, "TLS certificate did not verify"),
        # The node closed the TLS connection (during the handshake or before its reply).
        (ssl.SSLEOFError, "connection closed"),
        (ssl.SSLZeroReturnError, "connection closed"),
        (ssl.SSLError, "TLS handshake failed"),
        (socket.timeout, "timed out"),
        (TimeoutError, "timed out"),
        (ConnectionRefusedError, "connection refused"),
        (socket.gaierror, "name does not resolve"),
        (ConnectionClosedError, "connection closed"),
        (ConnectionResetError, "connection reset"),
        (BrokenPipeError, "connection closed"),
    )


def _reason(exc: BaseException) -> str:
    """The cause by exception type (never the exception's text)."""
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_code in _NAME_MISMATCH:
        return "TLS certificate is not for this host name"
    for kind, reason in _reasons():
        if isinstance(exc, kind):
            return reason
    return type(exc).__name__
