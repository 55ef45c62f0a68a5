"""MemoryDB's ACLs and clusters for the sandbox, with a real server process behind every node.

moto 5.2.5 has no ACL API (`create_acl`/`describe_acls` raise NotImplementedError), leaves users'
`ACLNames` empty, accepts any ACLName on create_cluster and invents node endpoints. MemoryDB's
control plane is what tells the function where a user lives (user -> ACLs -> clusters -> nodes), so
the sandbox keeps that chain here and makes every node endpoint it reports a real local
`redis-server` (or `valkey-server`): one standalone server per node, which is faithful enough for
authentication because MemoryDB pushes a user's ACL entry to each node itself.

Propagation (docs/sandbox.md): FaithfulMemoryDB hands a user's password set to `apply_user` when
the user turns `active`. The set goes to every node of every cluster whose ACL holds the user, node
by node: the k-th node (in cluster, shard, primary-then-replica order) gets it `k * lag` seconds
later, plus that node's own lag (`lag_node`). A stopped node keeps what it should hold and gets it
when it starts again. A user in no ACL is on no node.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.memorydb.exceptions import (
    InvalidParameterValueException,
    UserNotFoundFault,
)
from moto.memorydb.models import MemoryDBBackend, MemoryDBCluster
from moto.memorydb.responses import MemoryDBResponse

from sandbox.memorydb import InvalidParameterCombinationException
from sandbox.redis_server import (
    SLOTS,
    RedisServer,
    form_cluster,
    rejoin,
    serving,
    slot_ranges,
    wait_serving,
)
from sandbox.tls import NODE_HOST, TlsFiles

ENGINES = {"redis": "redis-server", "valkey": "valkey-server"}
ENGINE_ENV = "SANDBOX_ENGINE"
OPEN_ACCESS = "open-access"
_ACL_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9\-]*")
# The `default` user as MemoryDB creates it: no password, everything allowed, in `open-access`.
_DEFAULT_ACCESS = "on ~* &* +@all"


class TopologyError(RuntimeError):
    pass


class ACLNotFoundFault(JsonRESTError):
    code = 400

    def __init__(self, name: str) -> None:
        super().__init__("ACLNotFoundFault", f"ACL {name} not found.")


class ACLAlreadyExistsFault(JsonRESTError):
    code = 400

    def __init__(self, name: str) -> None:
        super().__init__("ACLAlreadyExistsFault", f"ACL {name} already exists.")


class DuplicateUserNameFault(JsonRESTError):
    code = 400

    def __init__(self, msg: str) -> None:
        super().__init__("DuplicateUserNameFault", msg)


class InvalidACLStateFault(JsonRESTError):
    code = 400

    def __init__(self, msg: str) -> None:
        super().__init__("InvalidACLStateFault", msg)


def default_engine() -> str:
    """`SANDBOX_ENGINE` if set, else redis (the engine in Debian's main archive)."""
    engine = os.environ.get(ENGINE_ENV, "") or "redis"
    if engine not in ENGINES:
        raise TopologyError(f"{ENGINE_ENV} must be one of {', '.join(ENGINES)}")
    return engine


def installed_engines() -> list[str]:
    return [engine for engine, binary in ENGINES.items() if shutil.which(binary)]


@dataclass(frozen=True)
class UserSetting:
    """What MemoryDB pushes to a node for one user (passwords never in a repr)."""

    access_string: str
    passwords: tuple[str, ...] = field(repr=False)
    nopass: bool = False


class NodeHandle:
    """One node: a server process on 127.0.0.1, reached by name (`host`), with its own port."""

    def __init__(
        self,
        name: str,
        cluster: str,
        shard: str,
        server: RedisServer,
        lock: threading.RLock,
        rejoin: Callable[[RedisServer], None] | None = None,
    ) -> None:
        self.name = name
        self.cluster = cluster
        self.shard = shard
        self.server = server
        self._lock = lock
        self._rejoin = rejoin
        self._desired: dict[str, UserSetting] = {}
        """Every user this node should hold: replayed when a stopped node starts again."""
        self.advertised: tuple[str, int] | None = None
        """What MemoryDB reports for this node instead of its own address (a proxy before it)."""

    def __repr__(self) -> str:
        return f"NodeHandle({self.name!r}, {self.host}:{self.port})"

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def running(self) -> bool:
        return self.server.running

    @property
    def endpoint(self) -> tuple[str, int]:
        """The address MemoryDB reports: the node's own, or the one advertised for it."""
        return self.advertised or (self.host, self.port)

    def stop(self) -> None:
        """The node goes down; what it misses meanwhile it gets at `start()`."""
        with self._lock:
            self.server.stop()

    def start(self) -> None:
        """Back on the same port, with every user it should hold (a restart loses its ACL)."""
        with self._lock:
            if not self.server.running:
                self.server.start()
                if self._rejoin is not None:
                    self._rejoin(self.server)
            for user, setting in self._desired.items():
                self._write(user, setting)

    def accepts(self, user: str, password: str) -> bool:
        """Does `AUTH user password` succeed on this node right now? A node that does not answer
        accepts nothing."""
        try:
            return self.server.authenticates(user, password)
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def apply(self, user: str, setting: UserSetting | None) -> None:
        with self._lock:
            if setting is None:
                self._desired.pop(user, None)
            else:
                self._desired[user] = setting
            if self.server.running:
                self._write(user, setting)

    def _write(self, user: str, setting: UserSetting | None) -> None:
        try:
            if setting is None:
                self.server.delete_user(user)
            else:
                self.server.apply_user(
                    user, setting.access_string, setting.passwords, nopass=setting.nopass
                )
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            # Down without `stop()` (killed from outside): `start()` replays `_desired`.
            pass


@dataclass
class ClusterHandle:
    name: str
    acl: str
    tls: bool
    shards: list[list[NodeHandle]]
    """Per shard, the primary first, then its replicas."""
    engine: str = "redis"
    state: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    """Where the nodes keep nodes.conf across a stop and start."""
    _serving: bool = field(default=False, repr=False)
    creating: list[str] = field(default_factory=list)
    """Nodes of a shard being added: DescribeClusters lists each as `creating`, with no Endpoint
    (MemoryDB gives a node its endpoint once it is available); no server stands behind them."""

    @property
    def nodes(self) -> list[NodeHandle]:
        return [node for shard in self.shards for node in shard]

    @property
    def replicas_per_shard(self) -> int:
        return len(self.shards[0]) - 1

    @property
    def slots(self) -> list[tuple[int, int]]:
        """Each shard's slot range, as its primary owns it."""
        return slot_ranges(len(self.shards))

    def describe(self) -> str:
        """What the cluster is, in words (for the demo and logs)."""
        replicas = self.replicas_per_shard
        return (
            f"{len(self.shards)} shard{'s' * (len(self.shards) != 1)} x "
            f"{replicas + 1} node{'s' * (replicas != 0)} (primary + {replicas} "
            f"replica{'s' * (replicas != 1)}), {ENGINES[self.engine]} in cluster mode, "
            f"{'TLS' if self.tls else 'plaintext'}, {SLOTS} slots"
        )

    @property
    def serving(self) -> bool:
        """Every running node serves keys (`cluster_state:ok`); remembered once true."""
        if not self._serving:
            self._serving = all(serving(node.server) for node in self.nodes if node.running)
        return self._serving

    def wait_serving(self) -> ClusterHandle:
        """Until key commands work on every node. The nodes answer AUTH from creation on; a
        fresh primary refuses keys (CLUSTERDOWN) for its first 2 s."""
        wait_serving([node.server for node in self.nodes if node.running])
        self._serving = True
        return self

    def _servers(self) -> list[list[RedisServer]]:
        return [[node.server for node in shard] for shard in self.shards]

    def rejoin(self, server: RedisServer) -> None:
        rejoin(self._servers(), server)
        self._serving = False

    @property
    def endpoint(self) -> tuple[str, int]:
        """The cluster endpoint: the first shard's primary (cluster-mode clients find the rest)."""
        return self.shards[0][0].endpoint


@dataclass(order=True)
class _Delivery:
    due: float
    sequence: int
    node: NodeHandle = field(compare=False)
    user: str = field(compare=False)
    setting: UserSetting | None = field(compare=False)


class Topology:
    """ACLs, clusters and nodes; the data plane FaithfulMemoryDB propagates users to."""

    def __init__(
        self,
        *,
        engine: str | None = None,
        tls: TlsFiles | None = None,
        lag: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        account: str = "123456789012",
        region: str = "us-east-1",
    ) -> None:
        self.engine = engine or default_engine()
        if self.engine not in ENGINES:
            raise TopologyError(f"unknown engine {self.engine!r}: one of {', '.join(ENGINES)}")
        self.tls = tls
        self.lag = lag
        """Seconds between one node receiving a user's set and the next (0: all at once)."""
        self.clock = clock
        self.sleep = sleep
        self.account = account
        self.region = region
        self.acls: dict[str, list[str]] = {OPEN_ACCESS: ["default"]}
        self.clusters: dict[str, ClusterHandle] = {}
        self._sets: dict[str, UserSetting] = {
            "default": UserSetting(_DEFAULT_ACCESS, (), nopass=True)
        }
        self._node_lag: dict[str, float] = {}
        self._queue: list[_Delivery] = []
        self._sequence = itertools.count()
        self.calls: list[str] = []
        """The discovery calls served (DescribeACLs, DescribeClusters), for call counts."""
        self._lock = threading.RLock()
        self._wakeup = threading.Condition(self._lock)
        self._courier: threading.Thread | None = None
        self._closed = False

    # -- the data plane FaithfulMemoryDB pushes to ------------------------------------------------

    def apply_user(self, name: str, access_string: str, passwords: Sequence[str]) -> None:
        """The user's set as MemoryDB propagates it (called when the user turns `active`)."""
        setting = UserSetting(access_string, tuple(passwords))
        with self._lock:
            self._sets[name] = setting
            self._propagate(name, setting, self._nodes_holding(name))

    def delete_user(self, name: str) -> None:
        with self._lock:
            nodes = self._nodes_holding(name)
            self._sets.pop(name, None)
            for users in self.acls.values():
                if name in users:
                    users.remove(name)
            self._propagate(name, None, nodes)

    def deliver_due(self) -> None:
        """Deliver what is due now (the courier thread does this by itself; tests with a fake
        clock call it after moving the clock)."""
        with self._lock:
            self._deliver_due()

    def settle(self) -> None:
        """Wait until every scheduled delivery has reached its node."""
        while True:
            with self._lock:
                self._deliver_due()
                if not self._queue:
                    return
                wait = max(d.due for d in self._queue) - self.clock()
            self.sleep(max(0.0, min(wait, 1.0)))

    # -- knobs for tests ------------------------------------------------------------------------

    def lag_node(self, node_name: str, seconds: float) -> None:
        """From now on this node receives every set `seconds` after it otherwise would."""
        with self._lock:
            self.node(node_name)
            self._node_lag[node_name] = seconds

    def advertise_node(self, node_name: str, address: tuple[str, int] | None) -> None:
        """MemoryDB reports `address` as this node's endpoint (and as the cluster endpoint if the
        node is the first primary) while the node keeps serving on its own port: a fault proxy
        put there is then an endpoint the function discovers. None reports the node again."""
        with self._lock:
            self.node(node_name).advertised = address

    def add_creating_shard(self, cluster_name: str) -> str:
        """A shard being added: DescribeClusters lists one more shard whose node is `creating`
        and has no Endpoint yet. Returns the node's name."""
        with self._lock:
            handle = self.cluster(cluster_name)
            name = f"{cluster_name}-{len(handle.shards) + len(handle.creating) + 1:04d}-001"
            handle.creating.append(name)
            return name

    def finish_creating_shards(self, cluster_name: str) -> None:
        """The shards being added are gone from DescribeClusters again (as if never begun)."""
        with self._lock:
            self.cluster(cluster_name).creating.clear()

    def node(self, name: str) -> NodeHandle:
        for cluster in self.clusters.values():
            for node in cluster.nodes:
                if node.name == name:
                    return node
        raise TopologyError(f"no node named {name!r}")

    def cluster(self, name: str) -> ClusterHandle:
        try:
            return self.clusters[name]
        except KeyError:
            raise TopologyError(f"no cluster named {name!r}") from None

    def accepts_everywhere(self, user: str, password: str) -> dict[str, bool]:
        return {
            node.name: node.accepts(user, password)
            for cluster in self.clusters.values()
            for node in cluster.nodes
        }

    # -- ACLs -----------------------------------------------------------------------------------

    def create_acl(self, backend: MemoryDBBackend, name: str, users: Sequence[str]) -> None:
        if not _ACL_NAME.fullmatch(name):
            # botocore's model gives the pattern; the client does not check it, the service does.
            raise InvalidParameterValueException(
                "ACLName must begin with a letter and hold only letters, digits and hyphens."
            )
        with self._lock:
            if name in self.acls:
                raise ACLAlreadyExistsFault(name)
            self._check_users(backend, users)
            self.acls[name] = []
            self._add(backend, name, users)

    def update_acl(
        self,
        backend: MemoryDBBackend,
        name: str,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
    ) -> None:
        with self._lock:
            members = self._acl(name)
            if name == OPEN_ACCESS:
                raise InvalidParameterValueException(
                    "open-access is reserved and cannot be modified."
                )
            if set(add) & set(remove):
                raise InvalidParameterCombinationException(
                    "A user cannot be both added to and removed from an ACL."
                )
            self._check_users(backend, add)
            already = [user for user in add if user in members]
            if already:
                raise DuplicateUserNameFault(f"User {already[0]} is already in ACL {name}.")
            missing = [user for user in remove if user not in members]
            if missing:
                raise UserNotFoundFault(f"User {missing[0]} is not in ACL {name}.")
            self._add(backend, name, add)
            for user in remove:
                members.remove(user)
                self._set_acl_names(backend, user)
                nodes = [n for c in self.clusters.values() if c.acl == name for n in c.nodes]
                self._propagate(user, None, nodes)

    def delete_acl(self, backend: MemoryDBBackend, name: str) -> dict[str, Any]:
        with self._lock:
            members = self._acl(name)
            if name == OPEN_ACCESS:
                raise InvalidParameterValueException(
                    "open-access is reserved and cannot be deleted."
                )
            in_use = [c.name for c in self.clusters.values() if c.acl == name]
            if in_use:
                raise InvalidACLStateFault(f"ACL {name} is in use by cluster {in_use[0]}.")
            description = self.describe_acl(name) | {"Status": "deleting"}
            del self.acls[name]
            for user in members:
                self._set_acl_names(backend, user)
            return description

    def describe_acl(self, name: str) -> dict[str, Any]:
        with self._lock:
            return {
                "Name": name,
                "Status": "active",
                "UserNames": list(self._acl(name)),
                "MinimumEngineVersion": "6.2",
                "PendingChanges": {},
                "Clusters": [c.name for c in self.clusters.values() if c.acl == name],
                "ARN": f"arn:aws:memorydb:{self.region}:{self.account}:acl/{name}",
            }

    def _acl(self, name: str) -> list[str]:
        try:
            return self.acls[name]
        except KeyError:
            raise ACLNotFoundFault(name) from None

    def _check_users(self, backend: MemoryDBBackend, users: Sequence[str]) -> None:
        if len(set(users)) != len(users):
            raise DuplicateUserNameFault("A user name appears more than once.")
        for user in users:
            if user not in backend.users:
                raise UserNotFoundFault(f"User {user} not found.")

    def _add(self, backend: MemoryDBBackend, name: str, users: Iterable[str]) -> None:
        """Members join; their sets go to the ACL's clusters at once."""
        nodes = [n for c in self.clusters.values() if c.acl == name for n in c.nodes]
        for user in users:
            self.acls[name].append(user)
            self._set_acl_names(backend, user)
            setting = self._sets.get(user)
            if setting is not None:
                self._propagate(user, setting, nodes)

    def _set_acl_names(self, backend: MemoryDBBackend, user: str) -> None:
        model = backend.users.get(user)
        if model is not None:
            model.acl_names = [acl for acl, users in self.acls.items() if user in users]

    # -- clusters -------------------------------------------------------------------------------

    def create_cluster(
        self, name: str, *, acl: str, shards: int = 1, replicas_per_shard: int = 0, tls: bool
    ) -> ClusterHandle:
        """Start one server per node (in parallel), then give them the ACL's users."""
        with self._lock:
            self._acl(acl)
            if name in self.clusters:
                raise TopologyError(f"cluster {name!r} exists")
        if tls and self.tls is None:
            raise TopologyError("a TLS cluster needs the sandbox's TLS files")
        layout = [
            [
                (f"{name}-{s + 1:04}-{n + 1:03}", f"{s + 1:04}")
                for n in range(replicas_per_shard + 1)
            ]
            for s in range(shards)
        ]
        state = tempfile.TemporaryDirectory(prefix=f"sandbox-cluster-{name}-")
        # One admin password per cluster: a replica authenticates to its primary as the admin.
        admin_password = secrets.token_urlsafe(24)
        servers = {
            node: RedisServer(
                tls=self.tls if tls else None,
                binary=ENGINES[self.engine],
                cluster_state=Path(state.name),
                admin_password=admin_password,
                host=NODE_HOST if tls else None,
            )
            for shard in layout
            for node, _ in shard
        }
        try:
            with ThreadPoolExecutor(max_workers=min(8, len(servers))) as pool:
                list(pool.map(RedisServer.start, servers.values()))
            form_cluster([[servers[node] for node, _ in shard] for shard in layout])
        except BaseException:
            _stop_all(list(servers.values()))
            state.cleanup()
            raise
        handle = ClusterHandle(
            name=name,
            acl=acl,
            tls=tls,
            shards=[],
            engine=self.engine,
            state=state,
        )
        handle.shards = [
            [
                NodeHandle(node, name, shard_name, servers[node], self._lock, handle.rejoin)
                for node, shard_name in shard
            ]
            for shard in layout
        ]
        with self._lock:
            self.clusters[name] = handle
            for user in self.acls[acl]:
                setting = self._sets.get(user)
                if setting is not None:
                    for node in handle.nodes:
                        node.apply(user, setting)
        return handle

    def delete_cluster(self, name: str) -> None:
        with self._lock:
            handle = self.clusters.pop(name, None)
            if handle is None:
                return
            self._queue = [d for d in self._queue if d.node.cluster != name]
            heapq.heapify(self._queue)
        _stop_all([node.server for node in handle.nodes])
        if handle.state is not None:
            handle.state.cleanup()

    def change_acl(self, name: str, acl: str) -> None:
        """UpdateCluster(ACLName=...): the nodes hold exactly the new ACL's users."""
        with self._lock:
            handle = self.cluster(name)
            new_members = self._acl(acl)
            for user in self.acls[handle.acl]:
                if user not in new_members:
                    self._propagate(user, None, handle.nodes)
            handle.acl = acl
            for user in new_members:
                setting = self._sets.get(user)
                if setting is not None:
                    self._propagate(user, setting, handle.nodes)

    def cluster_dict(self, cluster: MemoryDBCluster, *, shards: bool) -> dict[str, Any]:
        """DescribeClusters' Cluster shape (botocore's service model) for a sandbox cluster."""
        handle = self.clusters.get(cluster.cluster_name)
        description: dict[str, Any] = cluster.to_dict()
        if handle is None:
            return description
        host, port = handle.endpoint
        replicas = len(handle.shards[0]) - 1
        description.update(
            {
                "ClusterEndpoint": {"Address": host, "Port": port},
                "TLSEnabled": handle.tls,
                "ACLName": handle.acl,
                "Engine": self.engine,
                "NumberOfShards": len(handle.shards),
                "AvailabilityMode": "MultiAZ" if replicas else "SingleAZ",
                # MemoryDB says `creating` until the cluster serves; here that is until every
                # primary has passed its first 2 s (ClusterHandle.serving).
                "Status": "available" if handle.serving else "creating",
            }
        )
        if shards:
            description["Shards"] = [
                {
                    "Name": shard[0].shard,
                    "Status": "available",
                    "Slots": f"{first}-{last}",
                    "Nodes": [
                        {
                            "Name": node.name,
                            "Status": "available",
                            "AvailabilityZone": f"{self.region}{'abc'[n % 3]}",
                            "CreateTime": utcnow(),
                            "Endpoint": {
                                "Address": node.endpoint[0],
                                "Port": node.endpoint[1],
                            },
                        }
                        for n, node in enumerate(shard)
                    ],
                    "NumberOfNodes": len(shard),
                }
                for shard, (first, last) in zip(handle.shards, handle.slots, strict=True)
            ]
            description["Shards"] += [
                {
                    "Name": name.rsplit("-", 1)[0].rsplit("-", 1)[1],
                    "Status": "creating",
                    "Nodes": [{"Name": name, "Status": "creating"}],
                    "NumberOfNodes": 1,
                }
                for name in handle.creating
            ]
        return description

    # -- propagation ----------------------------------------------------------------------------

    def _nodes_holding(self, user: str) -> list[NodeHandle]:
        return [
            node
            for cluster in self.clusters.values()
            if user in self.acls.get(cluster.acl, ())
            for node in cluster.nodes
        ]

    def _propagate(self, user: str, setting: UserSetting | None, nodes: list[NodeHandle]) -> None:
        now = self.clock()
        for k, node in enumerate(nodes):
            # A newer set supersedes one still on its way to this node.
            self._queue = [d for d in self._queue if not (d.node is node and d.user == user)]
            heapq.heapify(self._queue)
            delay = k * self.lag + self._node_lag.get(node.name, 0.0)
            if delay <= 0:
                node.apply(user, setting)
            else:
                heapq.heappush(
                    self._queue, _Delivery(now + delay, next(self._sequence), node, user, setting)
                )
        if self._queue:
            self._ensure_courier()
            self._wakeup.notify_all()

    def _deliver_due(self) -> None:
        now = self.clock()
        while self._queue and self._queue[0].due <= now:
            delivery = heapq.heappop(self._queue)
            delivery.node.apply(delivery.user, delivery.setting)

    def _ensure_courier(self) -> None:
        if self._courier is None and not self._closed:
            self._courier = threading.Thread(
                target=self._courier_loop, name="sandbox-propagation", daemon=True
            )
            self._courier.start()

    def _courier_loop(self) -> None:
        """Delivers lagging sets on time even when nobody calls the control plane (a client that
        only polls a node must see it change)."""
        with self._wakeup:
            while not self._closed:
                self._deliver_due()
                wait = self._queue[0].due - self.clock() if self._queue else 1.0
                # Bounded, so a clock that jumps (a fake one in tests) is looked at again soon.
                self._wakeup.wait(timeout=max(0.001, min(wait, 1.0)))

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        with self._wakeup:
            self._closed = True
            self._queue.clear()
            self._wakeup.notify_all()
        if self._courier is not None:
            self._courier.join(timeout=5)
            self._courier = None
        with self._lock:
            clusters = list(self.clusters.values())
            self.clusters.clear()
        _stop_all([node.server for c in clusters for node in c.nodes])
        for cluster in clusters:
            if cluster.state is not None:
                cluster.state.cleanup()

    # -- the patched moto -----------------------------------------------------------------------

    @contextmanager
    def patched(self) -> Iterator[Topology]:
        """moto's MemoryDB with ACLs, ACL-checked clusters and real node endpoints."""
        backend_originals = {
            name: getattr(MemoryDBBackend, name)
            for name in ("create_cluster", "update_cluster", "delete_cluster")
        }
        response_originals = {
            name: MemoryDBResponse.__dict__.get(name)
            for name in (
                "create_acl",
                "describe_ac_ls",
                "update_acl",
                "delete_acl",
                "describe_clusters",
            )
        }
        topology = self

        def create_cluster(backend: MemoryDBBackend, cluster_name: str, **kwargs: Any) -> Any:
            acl_name = kwargs.get("acl_name") or ""
            requested_tls = kwargs.get("tls_enabled")
            tls = topology.tls is not None and requested_tls is not False
            if topology.tls is not None and not tls and acl_name != OPEN_ACCESS:
                raise InvalidParameterCombinationException(
                    "A cluster without TLS can only use the open-access ACL."
                )
            cluster = backend_originals["create_cluster"](backend, cluster_name, **kwargs)
            replicas = kwargs.get("num_replicas_per_shard")
            # moto turns 0 replicas into 1.
            cluster.num_replicas_per_shard = 0 if replicas is None else replicas
            try:
                topology.create_cluster(
                    cluster_name,
                    acl=acl_name,
                    shards=cluster.num_shards,
                    replicas_per_shard=cluster.num_replicas_per_shard,
                    tls=tls,
                )
            except BaseException:
                backend.clusters.pop(cluster_name, None)
                raise
            cluster.acl_name = acl_name
            cluster.tls_enabled = tls
            cluster.availability_mode = "MultiAZ" if cluster.num_replicas_per_shard else "SingleAZ"
            # to_dict's ClusterEndpoint; describe_clusters reports the live one (cluster_dict).
            host, port = topology.clusters[cluster_name].endpoint
            cluster.cluster_endpoint = {"Address": host, "Port": port}
            cluster.shards = []
            return cluster

        def update_cluster(backend: MemoryDBBackend, cluster_name: str, **kwargs: Any) -> Any:
            if kwargs.get("replica_configuration") or kwargs.get("shard_configuration"):
                raise InvalidParameterValueException(
                    "The sandbox does not resize clusters: create one with the shape you need."
                )
            acl_name = kwargs.get("acl_name")
            if acl_name is not None:
                topology.change_acl(cluster_name, acl_name)
            return backend_originals["update_cluster"](backend, cluster_name, **kwargs)

        def delete_cluster(backend: MemoryDBBackend, cluster_name: str, **kwargs: Any) -> Any:
            cluster = backend_originals["delete_cluster"](backend, cluster_name, **kwargs)
            topology.delete_cluster(cluster_name)
            return cluster

        def create_acl(response: MemoryDBResponse) -> ActionResult:
            params = json.loads(response.body)
            name = params["ACLName"]
            topology.create_acl(response.memorydb_backend, name, params.get("UserNames") or [])
            return ActionResult({"ACL": topology.describe_acl(name)})

        def update_acl(response: MemoryDBResponse) -> ActionResult:
            params = json.loads(response.body)
            name = params["ACLName"]
            topology.update_acl(
                response.memorydb_backend,
                name,
                params.get("UserNamesToAdd") or [],
                params.get("UserNamesToRemove") or [],
            )
            return ActionResult({"ACL": topology.describe_acl(name)})

        def delete_acl(response: MemoryDBResponse) -> ActionResult:
            params = json.loads(response.body)
            return ActionResult(
                {"ACL": topology.delete_acl(response.memorydb_backend, params["ACLName"])}
            )

        def describe_acls(response: MemoryDBResponse) -> ActionResult:
            params = json.loads(response.body)
            with topology._lock:
                topology.calls.append("DescribeACLs")
                name = params.get("ACLName")
                names = [name] if name else list(topology.acls)
                acls = [topology.describe_acl(n) for n in names]
            page, token = _page(acls, params, "ACLs")
            return ActionResult({"ACLs": page, "NextToken": token})

        def describe_clusters(response: MemoryDBResponse) -> ActionResult:
            params = json.loads(response.body)
            name = params.get("ClusterName")
            with topology._lock:
                topology.calls.append("DescribeClusters")
            clusters = response.memorydb_backend.describe_clusters(cluster_name=name)
            with topology._lock:
                described = [
                    topology.cluster_dict(c, shards=bool(params.get("ShowShardDetails")))
                    for c in clusters
                ]
            page, token = _page(described, params, "Clusters")
            return ActionResult({"Clusters": page, "NextToken": token})

        backend_replacements = {
            "create_cluster": create_cluster,
            "update_cluster": update_cluster,
            "delete_cluster": delete_cluster,
        }
        response_replacements = {
            "create_acl": create_acl,
            # moto dispatches on camelcase_to_underscores("DescribeACLs").
            "describe_ac_ls": describe_acls,
            "update_acl": update_acl,
            "delete_acl": delete_acl,
            "describe_clusters": describe_clusters,
        }
        for name, function in backend_replacements.items():
            setattr(MemoryDBBackend, name, function)
        for name, handler in response_replacements.items():
            setattr(MemoryDBResponse, name, handler)
        try:
            yield self
        finally:
            for name, original in backend_originals.items():
                setattr(MemoryDBBackend, name, original)
            for name, original in response_originals.items():
                if original is None:
                    delattr(MemoryDBResponse, name)
                else:
                    setattr(MemoryDBResponse, name, original)


def _stop_all(servers: list[RedisServer]) -> None:
    """In parallel: each stop waits for its process to exit."""
    if len(servers) <= 1:
        for server in servers:
            server.stop()
        return
    with ThreadPoolExecutor(max_workers=min(8, len(servers))) as pool:
        list(pool.map(RedisServer.stop, servers))


def _page(
    items: list[dict[str, Any]], params: dict[str, Any], what: str
) -> tuple[list[Any], str | None]:
    """MaxResults/NextToken pagination; tokens are opaque to the caller, as AWS's are."""
    start = 0
    token = params.get("NextToken")
    if token:
        try:
            kind, offset = base64.urlsafe_b64decode(token.encode()).decode().split(":")
            start = int(offset)
        except ValueError:
            raise InvalidParameterValueException("Invalid NextToken.") from None
        if kind != what or not 0 <= start <= len(items):
            raise InvalidParameterValueException("Invalid NextToken.")
    limit = params.get("MaxResults")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise InvalidParameterValueException("MaxResults must be a positive integer.")
    end = len(items) if limit is None else min(len(items), start + limit)
    following = None
    if end < len(items):
        following = base64.urlsafe_b64encode(f"{what}:{end}".encode()).decode()
    return items[start:end], following
