"""A real redis-server on loopback: the data plane of the sandbox.

The server's `default` user is off, as on a MemoryDB cluster with an ACL; the sandbox administers
users through its own admin user, whose password is generated per server.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sandbox.tls import TlsFiles

ADMIN_USER = "sandbox-admin"


class RedisServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(self, *, tls: TlsFiles | None = None, binary: str = "redis-server") -> None:
        self.tls = tls
        self.host = "localhost" if tls else "127.0.0.1"
        self.port = free_port()
        self._binary = binary
        self._admin_password = secrets.token_urlsafe(24)
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._admin: redis.Redis | None = None

    def start(self) -> RedisServer:
        binary = shutil.which(self._binary)
        if binary is None:
            raise RedisServerError(
                f"{self._binary} is not installed: run `make install` (redis-server) or "
                "`make valkey-server`"
            )
        self._dir = tempfile.TemporaryDirectory(prefix="sandbox-redis-")
        config = Path(self._dir.name) / "redis.conf"
        lines = [
            "bind 127.0.0.1",
            f"dir {self._dir.name}",
            'save ""',
            "appendonly no",
            "daemonize no",
            "loglevel warning",
            "logfile " + str(Path(self._dir.name) / "redis.log"),
            "user default off",
            f"user {ADMIN_USER} on >{self._admin_password} ~* &* +@all",
        ]
        if self.tls:
            lines += [
                "port 0",
                f"tls-port {self.port}",
                f"tls-cert-file {self.tls.server_cert}",
                f"tls-key-file {self.tls.server_key}",
                f"tls-ca-cert-file {self.tls.ca_cert}",
                "tls-auth-clients no",
            ]
        else:
            lines.append(f"port {self.port}")
        config.write_text("\n".join(lines) + "\n")
        self._process = subprocess.Popen(
            [binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        pause = 0.005  # a server is usually up within a few ms; back off from there
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RedisServerError(
                    f"{self._binary} exited at start (is it built with TLS? is port "
                    f"{self.port} taken?)"
                )
            try:
                self.admin.ping()
            except redis.ConnectionError:
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
            else:
                return
        raise RedisServerError(f"{self._binary} did not answer within {timeout:g} s")

    @property
    def admin(self) -> redis.Redis:
        if self._admin is None:
            self._admin = redis.Redis(
                host=self.host,
                port=self.port,
                username=ADMIN_USER,
                password=self._admin_password,
                ssl=self.tls is not None,
                ssl_ca_certs=str(self.tls.ca_cert) if self.tls else None,
                # The sandbox's own probes verify the CA, not the name: a server given a
                # certificate for another name (a negative test) must still be administered.
                ssl_check_hostname=False,
                socket_timeout=5,
                retry=Retry(NoBackoff(), 0),
            )
        return self._admin

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def directory(self) -> Path | None:
        return None if self._dir is None else Path(self._dir.name)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the process and remove its directory; `start()` brings it back on the same port
        with no users but the admin (a restarted node learns its users again from MemoryDB)."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stderr is not None:
                self._process.stderr.close()
            self._process = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what MemoryDB's propagation does to every node ---------------------------------------

    def apply_user(
        self, name: str, access_string: str, passwords: Sequence[str], *, nopass: bool = False
    ) -> None:
        """Give the ACL user exactly this password set and access string."""
        rules = ["reset", *access_string.split(), *(f">{p}" for p in passwords)]
        if nopass:
            rules.append("nopass")
        self.admin.execute_command("ACL", "SETUSER", name, *rules)  # type: ignore[no-untyped-call]

    def delete_user(self, name: str) -> None:
        self.admin.execute_command("ACL", "DELUSER", name)  # type: ignore[no-untyped-call]

    def authenticates(self, name: str, password: str) -> bool:
        """The oracle: does AUTH name password succeed on this server right now?"""
        client = redis.Redis(
            host=self.host,
            port=self.port,
            username=name,
            password=password,
            ssl=self.tls is not None,
            ssl_ca_certs=str(self.tls.ca_cert) if self.tls else None,
            ssl_check_hostname=False,
            socket_timeout=5,
            protocol=2,
            # redis-py retries connection errors, and a refused AUTH is one: ask exactly once.
            retry=Retry(NoBackoff(), 0),
        )
        try:
            return bool(client.ping())
        except redis.AuthenticationError:
            return False
        finally:
            client.close()
