"""The rotation's invariants, checked against the sandbox's own state and the real redis-server.

Nothing here goes through botocore: the checker reads the sandbox's view of the backends and asks
the redis-server (the oracle) directly, so a check never adds an AWS call or trips an injected
fault.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import redis

if TYPE_CHECKING:
    from collections.abc import Callable

    from sandbox.redis_server import RedisServer
    from sandbox.secretsmanager import SecretView

AWSCURRENT = "AWSCURRENT"
AWSPENDING = "AWSPENDING"


class ControlPlane(Protocol):
    """What the checker asks of MemoryDB's control plane: a Sandbox, or the FaithfulMemoryDB
    behind a moto server (the load run)."""

    def has_user(self, user: str, /) -> bool: ...
    def control_plane_passwords(self, user: str, /) -> list[str]: ...
    def most_passwords_held(self, user: str, /) -> int: ...


class Oracle:
    """`AUTH user password` on the real redis-server, over one kept-open connection per thread.

    A failed AUTH leaves the connection usable, so thousands of checks cost no new sockets.
    """

    def __init__(self, server: RedisServer) -> None:
        self._server = server
        self._local = threading.local()

    def _connection(self) -> redis.Connection:
        conn: redis.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            options: dict[str, Any] = {
                "host": self._server.host,
                "port": self._server.port,
                "socket_timeout": 5,
                "protocol": 2,
            }
            tls = self._server.tls
            if tls is not None:
                conn = redis.SSLConnection(
                    ssl_ca_certs=str(tls.ca_cert), ssl_check_hostname=False, **options
                )
            else:
                conn = redis.Connection(**options)  # type: ignore[no-untyped-call]
            conn.connect()  # type: ignore[no-untyped-call]
            self._local.conn = conn
        return conn

    def authenticates(self, user: str, password: str) -> bool:
        for _attempt in range(2):
            conn = self._connection()
            try:
                conn.send_command(  # type: ignore[no-untyped-call]
                    "AUTH", user, password
                )
                return conn.read_response() in (b"OK", "OK", True)
            except redis.AuthenticationError:
                return False
            except redis.ResponseError as exc:
                if "WRONGPASS" in str(exc):
                    return False
                raise
            except (redis.ConnectionError, OSError):
                conn.disconnect()  # type: ignore[no-untyped-call]
                self._local.conn = None
        return self._server.authenticates(user, password)

    def close(self) -> None:
        conn: redis.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.disconnect()  # type: ignore[no-untyped-call]
            self._local.conn = None


@dataclass
class InvariantChecker:
    """Invariants 1-4 for one secret and its user; `check` after every call, `check_end` last."""

    view: Callable[[], SecretView]
    control_plane: ControlPlane
    oracle: Oracle
    user: str
    keep_old: bool = False
    initial_current: str | None = None
    proven: set[str] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)
    checks: int = 0

    def start(self) -> InvariantChecker:
        self.initial_current = self.view().version_with(AWSCURRENT)
        return self

    def proved(self, token: str) -> None:
        """testSecret succeeded for this token: the harness saw it prove the password."""
        self.proven.add(token)

    def check(self, where: str) -> None:
        self.checks += 1
        view = self.view()
        current_version = view.version_with(AWSCURRENT)
        password = view.password(AWSCURRENT)
        if password is None or current_version is None:
            self._fail(where, 1, "AWSCURRENT has no password")
            return
        if not self.control_plane.has_user(self.user):
            return  # the user was deleted: nothing to hold the password (bad-input cases only)
        held = self.control_plane.control_plane_passwords(self.user)
        if password not in held:
            self._fail(where, 1, "the AWSCURRENT password left the control plane's set")
        if not self.oracle.authenticates(self.user, password):
            self._fail(where, 1, "the AWSCURRENT password does not authenticate on redis-server")
        most = self.control_plane.most_passwords_held(self.user)
        if len(held) > 2 or most > 2:
            self._fail(where, 2, f"the user held {max(len(held), most)} passwords")
        if current_version != self.initial_current and current_version not in self.proven:
            self._fail(where, 3, "AWSCURRENT moved to a version testSecret never proved")

    def check_end(self, where: str = "end of rotation") -> None:
        """After the rotation (and the retries it needed) completed."""
        self.check(where)
        view = self.view()
        pending = view.version_with(AWSPENDING)
        current = view.version_with(AWSCURRENT)
        if pending is not None and pending != current:
            self._fail(where, 4, "AWSPENDING is left on a version that is not AWSCURRENT")
        if current == self.initial_current:
            self._fail(where, 4, "the rotation did not complete: AWSCURRENT did not move")
        count = len(self.control_plane.control_plane_passwords(self.user))
        expected = {1, 2} if self.keep_old else {1}
        if count not in expected:
            self._fail(where, 2, f"the user holds {count} passwords at the end")

    def _fail(self, where: str, invariant: int, what: str) -> None:
        self.violations.append(f"invariant {invariant} broken {where}: {what}")
