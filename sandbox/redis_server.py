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
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sandbox.tls import TlsFiles

ADMIN_USER = "sandbox-admin"


class RedisServerError(RuntimeError):
    pass


class _PortTaken(RedisServerError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(
        self,
        *,
        tls: TlsFiles | None = None,
        binary: str = "redis-server",
        cluster_state: Path | None = None,
        admin_password: str | None = None,
        host: str | None = None,
    ) -> None:
        """`cluster_state` (a directory that outlives the process) makes the server a Redis
        Cluster node whose nodes.conf lives there, so a stopped node rejoins its cluster on
        `start()`. The nodes of one cluster share `admin_password`: a replica authenticates to
        its primary as the admin user."""
        self.tls = tls
        self.host = host or ("localhost" if tls else "127.0.0.1")
        self.port = free_port()
        self.bus_port = free_port() if cluster_state is not None else None
        self._binary = binary
        self._cluster_state = cluster_state
        self._admin_password = admin_password or secrets.token_urlsafe(24)
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._started = False
        self._process: subprocess.Popen[bytes] | None = None
        self._admin: redis.Redis | None = None

    def start(self) -> RedisServer:
        binary = shutil.which(self._binary)
        if binary is None:
            raise RedisServerError(
                f"{self._binary} is not installed: run `make install` (redis-server) or "
                "`make valkey-server`"
            )
        attempts = 1 if self._started else 3
        for attempt in range(1, attempts + 1):
            try:
                self._launch(binary)
            except _PortTaken:
                # free_port() released the port before the server bound it, and another process
                # (often a sibling node starting in parallel) took it. A node that ran before
                # keeps its ports: its cluster knows it by them.
                self.stop()
                if attempt == attempts:
                    raise
                self.port = free_port()
                if self.bus_port is not None:
                    self.bus_port = free_port()
            else:
                break
        self._started = True
        return self

    def _launch(self, binary: str) -> None:
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
        if self._cluster_state is not None:
            lines += self._cluster_lines()
        config.write_text("\n".join(lines) + "\n")
        self._process = subprocess.Popen(
            [binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._wait_ready()

    def _cluster_lines(self) -> list[str]:
        if self._cluster_state is None or self.bus_port is None:
            return []
        lines = [
            "cluster-enabled yes",
            f"cluster-config-file {self._cluster_state / f'nodes-{self.port}.conf'}",
            f"cluster-port {self.bus_port}",
            # Nodes announce a name, not 127.0.0.1, so cluster clients verify certificates by
            # name on every node they are redirected to (MemoryDB's endpoints are host names).
            f"cluster-announce-hostname {self.host}",
            "cluster-preferred-endpoint-type hostname",
            # MemoryDB fails over; the sandbox keeps the roles its API describes, so a stopped
            # primary stays the primary and the other shards keep serving meanwhile.
            "cluster-replica-no-failover yes",
            "cluster-require-full-coverage no",
            "cluster-node-timeout 2000",
            # A replica syncs the moment it attaches instead of after the default 5 s.
            "repl-diskless-sync yes",
            "repl-diskless-sync-delay 0",
            f"masteruser {ADMIN_USER}",
            f"masterauth {self._admin_password}",
        ]
        if self.tls:
            lines += ["tls-cluster yes", "tls-replication yes"]
        return lines

    def _last_log_line(self) -> str:
        """The server's own last words (its log holds no secret: no user is created there)."""
        log = None if self._dir is None else Path(self._dir.name) / "redis.log"
        if log is None or not log.exists():
            return "no log"
        lines = log.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "empty log"

    @property
    def cluster_enabled(self) -> bool:
        return self._cluster_state is not None

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        pause = 0.005  # a server is usually up within a few ms; back off from there
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                last = self._last_log_line()
                # redis 7 logs "Address already in use" for the client port last, but for the
                # cluster bus port it logs that and then "Failed listening on port N (cluster)".
                if "Address already in use" in last or "Failed listening on port" in last:
                    raise _PortTaken(last)
                raise RedisServerError(
                    f"{self._binary} exited at start (is it built with TLS? is port "
                    f"{self.port} taken?): {last}"
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


# -- Redis Cluster: the shards of one sandbox cluster ---------------------------------------------

SLOTS = 16384
_FORM_TIMEOUT = 30.0


def slot_ranges(shards: int) -> list[tuple[int, int]]:
    """The 16384 slots split into `shards` contiguous ranges, as MemoryDB reports them."""
    per_shard = SLOTS // shards
    return [
        (i * per_shard, SLOTS - 1 if i == shards - 1 else (i + 1) * per_shard - 1)
        for i in range(shards)
    ]


def form_cluster(
    shards: Sequence[Sequence[RedisServer]], *, timeout: float = _FORM_TIMEOUT
) -> None:
    """Make started cluster-mode servers one Redis Cluster: per shard the first server is the
    primary and owns its slot range, the others replicate it. Returns once every node sees
    every shard healthy (`wait_healthy`)."""
    primaries = [shard[0] for shard in shards]
    for epoch, (primary, (first, last)) in enumerate(
        zip(primaries, slot_ranges(len(shards)), strict=True), start=1
    ):
        primary.admin.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)  # type: ignore[no-untyped-call]
        # Distinct epochs up front, as redis-cli --cluster create does: no collision to resolve.
        primary.admin.execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)  # type: ignore[no-untyped-call]
    nodes = [server for shard in shards for server in shard]
    for k, server in enumerate(nodes):
        # Every pair meets directly instead of learning of each other by gossip (about a second
        # per hop). MEET takes an address; the bus then carries each node's announced host name.
        for other in nodes[k + 1 :]:
            server.admin.execute_command(  # type: ignore[no-untyped-call]
                "CLUSTER", "MEET", "127.0.0.1", other.port, other.bus_port
            )
    ids = {server.port: _text(server.admin.execute_command("CLUSTER", "MYID")) for server in nodes}  # type: ignore[no-untyped-call]
    deadline = time.monotonic() + timeout
    _until(lambda: all(_knows(server, ids.values()) for server in nodes), deadline, nodes)
    for shard in shards:
        for replica in shard[1:]:
            replica.admin.execute_command("CLUSTER", "REPLICATE", ids[shard[0].port])  # type: ignore[no-untyped-call]
    replicas = [replica for shard in shards for replica in shard[1:]]
    _until(lambda: all(_synced(replica) for replica in replicas), deadline, nodes)
    for primary in primaries:
        # A replica whose offset is still 0 counts as `loading` in CLUSTER SHARDS (and is left
        # out of CLUSTER SLOTS) until something replicates: an empty FLUSHALL does.
        primary.admin.execute_command("FLUSHALL")  # type: ignore[no-untyped-call]
    wait_healthy(shards, deadline=deadline)


def rejoin(shards: Sequence[Sequence[RedisServer]], restarted: RedisServer) -> None:
    """After `restarted` came back (its nodes.conf kept, its data gone): until it knows every
    node again and its shard replicates. A restarted primary starts a new replication history at
    offset 0, so its replicas resync and need a write to count as `online` again."""
    deadline = time.monotonic() + _FORM_TIMEOUT
    nodes = [server for shard in shards for server in shard]
    ids = [_text(n.admin.execute_command("CLUSTER", "MYID")) for n in nodes if n.running]  # type: ignore[no-untyped-call]
    _until(lambda: _knows(restarted, ids), deadline, nodes)
    for shard in shards:
        if restarted in shard:
            replicas = [r for r in shard[1:] if r.running]
            _until(lambda: all(_synced(r) for r in replicas), deadline, nodes)  # noqa: B023
            if shard[0].running:
                shard[0].admin.execute_command("FLUSHALL")  # type: ignore[no-untyped-call]


def wait_healthy(shards: Sequence[Sequence[RedisServer]], *, deadline: float | None = None) -> None:
    """Until the CLUSTER SHARDS of every node lists each shard with every node `online`.
    SHARDS, not SLOTS: a replica that never received a write is missing from CLUSTER SLOTS.
    The nodes answer AUTH and ACL commands from here on; keys wait for `wait_serving`."""
    nodes = [server for shard in shards for server in shard]
    ports = sorted(sorted(server.port for server in shard) for shard in shards)
    if deadline is None:
        deadline = time.monotonic() + _FORM_TIMEOUT
    _until(lambda: all(_healthy(server, ports) for server in nodes), deadline, nodes)


def serving(server: RedisServer) -> bool:
    """`cluster_state:ok` on this node: it serves keys. A primary says so 2 s after its start at
    the earliest (CLUSTER_WRITABLE_DELAY in the engine's cluster code), however fast the cluster
    formed; until then key commands get CLUSTERDOWN."""
    try:
        reply = server.admin.execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
    except redis.ConnectionError:
        return False
    return "cluster_state:ok" in _text(reply)


def wait_serving(servers: Sequence[RedisServer], *, timeout: float = _FORM_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    _until(lambda: all(serving(server) for server in servers), deadline, servers)


def shards_of(server: RedisServer) -> list[dict[str, Any]]:
    """CLUSTER SHARDS as dictionaries (RESP2 gives flat key/value lists)."""
    reply = server.admin.execute_command("CLUSTER", "SHARDS")  # type: ignore[no-untyped-call]
    return [_pairs(shard) for shard in reply]


def _pairs(flat: Any) -> dict[str, Any]:
    if isinstance(flat, dict):
        items = list(flat.items())
    else:
        items = list(zip(flat[::2], flat[1::2], strict=True))
    out: dict[str, Any] = {}
    for key, value in items:
        name = key.decode() if isinstance(key, bytes) else str(key)
        if name == "nodes":
            out[name] = [_pairs(node) for node in value]
        else:
            out[name] = value.decode() if isinstance(value, bytes) else value
    return out


def _text(reply: Any) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def _synced(replica: RedisServer) -> bool:
    return replica.admin.info("replication").get("master_link_status") == "up"


def _knows(server: RedisServer, ids: Iterable[str]) -> bool:
    lines = _text(server.admin.execute_command("CLUSTER", "NODES")).splitlines()  # type: ignore[no-untyped-call]
    known = {line.split()[0] for line in lines if "handshake" not in line.split()[2]}
    return set(ids) <= known


def _healthy(server: RedisServer, expected: list[list[int]]) -> bool:
    seen = []
    for shard in shards_of(server):
        nodes = shard["nodes"]
        if any(node.get("health") != "online" for node in nodes):
            return False
        roles = sorted(node.get("role") for node in nodes)
        if roles.count("master") != 1:
            return False
        seen.append(sorted(int(node.get("tls-port") or node.get("port")) for node in nodes))
    return sorted(seen) == expected


def _until(condition: Callable[[], bool], deadline: float, nodes: Sequence[RedisServer]) -> None:
    pause = 0.005  # gossip settles in tens of ms here; back off from there
    while True:
        try:
            if condition():
                return
        except redis.ConnectionError:
            pass
        if time.monotonic() >= deadline:
            raise RedisServerError(
                f"cluster of {len(nodes)} node(s) on ports "
                f"{', '.join(str(n.port) for n in nodes)} not healthy in time"
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
