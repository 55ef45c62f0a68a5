"""The whole local stand-in: moto (made strict), a real redis-server, and the rotation driver."""

from __future__ import annotations

import json
import os
import secrets
import string
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import boto3
from moto import mock_aws

from sandbox.driver import Handler, RotationDriver
from sandbox.memorydb import FaithfulMemoryDB
from sandbox.redis_server import RedisServer
from sandbox.scheduler import Firing, SandboxScheduler
from sandbox.secretsmanager import SecretView, StrictSecretsManager
from sandbox.tls import TestAuthority, TlsFiles, independent_tls_files, other_name_tls_files
from sandbox.topology import ClusterHandle, NodeHandle, Topology

if TYPE_CHECKING:
    from mypy_boto3_memorydb import MemoryDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

ACCOUNT = "123456789012"
DEFAULT_ACL = "sandbox-acl"
DEFAULT_CLUSTER = "sandbox-cluster"
REGION = "us-east-1"
LAMBDA_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:memorydb-rotation"
SCHEDULE_GROUP = "memorydb-rotation"
SCHEDULER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/memorydb-rotation-scheduler"
_ALPHABET = string.ascii_letters + string.digits + "!#$%&()*+-.:;<=>?[]^_{|}~"

# Fast polling for local runs: the sandbox propagates in tens of milliseconds.
FAST_WAITS = {
    "WAIT_INITIAL_INTERVAL_SECONDS": "0.01",
    "WAIT_MAX_INTERVAL_SECONDS": "0.05",
    # Long enough for any sandbox propagation, short enough that a node that never catches up
    # (testSecret polls it until the step's time runs out) costs seconds, not minutes.
    "WAIT_TIMEOUT_SECONDS": "4",
    "CONNECT_TIMEOUT_SECONDS": "2",
}


def new_password(length: int = 32) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def user_arn(name: str) -> str:
    return f"arn:aws:memorydb:{REGION}:{ACCOUNT}:user/{name}"


def secret_document(
    user: str, password: str, *, host: str, port: int, ssl: bool, **extra: Any
) -> dict[str, Any]:
    """The documented SecretString (keys whose value is None are left out)."""
    document: dict[str, Any] = {
        "username": user,
        "password": password,
        "host": host,
        "port": port,
        "ssl": ssl,
        "user_arn": user_arn(user),
    }
    document.update(extra)
    return {k: v for k, v in document.items() if v is not None}


def seed_rotatable_secret(
    memorydb_client: MemoryDBClient,
    sm_client: SecretsManagerClient,
    user: str,
    *,
    name: str,
    host: str,
    port: int,
    ssl: bool,
    access_string: str = "on ~* &* +@all",
    acl: str | None = DEFAULT_ACL,
) -> tuple[str, str]:
    """A password user (in `acl`, so on that ACL's clusters) and a secret in the documented
    format, through the given clients (which may point at a moto server); returns the secret's
    ARN and the user's password. Rotation is enabled separately."""
    password = new_password()
    memorydb_client.create_user(
        UserName=user,
        AuthenticationMode={"Type": "password", "Passwords": [password]},
        AccessString=access_string,
    )
    if acl is not None:
        memorydb_client.update_acl(ACLName=acl, UserNamesToAdd=[user])
    document = secret_document(user, password, host=host, port=port, ssl=ssl)
    arn = sm_client.create_secret(Name=name, SecretString=json.dumps(document))["ARN"]
    return arn, password


class EnvironmentChanges:
    """Environment variables set for a while: each one's first value is kept, and `restore()`
    puts every one back (unset where it was unset)."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, **values: str | None) -> None:
        for name, value in values.items():
            self._saved.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def restore(self) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved.clear()


class Sandbox:
    def __init__(
        self,
        *,
        tls: bool = True,
        propagation_delay: float = 0.05,
        tls_files: TlsFiles | None = None,
        engine: str | None = None,
        node_lag: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`tls=False` gives plaintext nodes that report `TLSEnabled: false` (MemoryDB clusters
        with password users always speak TLS; the function refuses them). `engine` is "redis" or
        "valkey" (default: $SANDBOX_ENGINE, else redis); `node_lag` spaces the nodes' receipt of a
        set (topology)."""
        self.tls_enabled = tls or tls_files is not None
        self._tls_files = tls_files
        self.propagation_delay = propagation_delay
        self.engine = engine
        self.node_lag = node_lag
        self.clock = clock
        self.topology: Topology
        self._authority: TestAuthority | None = None
        self._stack = ExitStack()
        self._env = EnvironmentChanges()
        self.redis: RedisServer
        self.memorydb: FaithfulMemoryDB
        self.secretsmanager = StrictSecretsManager(ACCOUNT, REGION)
        self.scheduler = SandboxScheduler()
        self.memorydb_client: MemoryDBClient
        self.sm_client: SecretsManagerClient
        self.passwords_seen: set[str] = set()
        """Every password the sandbox created or saw in a secret, for leak scans."""

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.set_env(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_SESSION_TOKEN="testing",
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            # MemoryDB's backend builds EC2's (for subnet groups), which otherwise loads ~7,800
            # AMIs: about a second of every sandbox's start and again at its stop.
            MOTO_EC2_LOAD_DEFAULT_AMIS="false",
        )
        if self.tls_enabled and self._tls_files is None:
            workdir = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
            self._authority = TestAuthority(workdir)
            self._tls_files = self._authority.issue()
        self._stack.enter_context(mock_aws())
        self.topology = Topology(
            engine=self.engine,
            tls=self._tls_files if self.tls_enabled else None,
            lag=self.node_lag,
            clock=self.clock,
            account=ACCOUNT,
            region=REGION,
        )
        self._stack.callback(self.topology.close)
        self.memorydb = FaithfulMemoryDB(
            self.topology, propagation_delay=self.propagation_delay, clock=self.clock
        )
        self._stack.enter_context(self.memorydb.patched())
        self._stack.enter_context(self.topology.patched())
        self._stack.enter_context(self.secretsmanager.patched())
        self._stack.enter_context(self.scheduler.patched())
        self.memorydb_client = boto3.client("memorydb", region_name=REGION)
        self.sm_client = boto3.client("secretsmanager", region_name=REGION)
        self._start_default_cluster()
        self.configure_function()

    def stop(self) -> None:
        self._stack.close()
        self._env.restore()
        _reset_function()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def set_env(self, **values: str | None) -> None:
        self._env.set(**values)

    def configure_function(self, **settings: str | None) -> None:
        """The function's environment (as the template would set it), then a fresh cold start."""
        env: dict[str, str | None] = dict(FAST_WAITS)
        if self._tls_files is not None:
            env["CA_BUNDLE_PATH"] = str(self._tls_files.ca_cert)
        env.update(settings)
        self.set_env(**env)
        _reset_function()

    @property
    def tls_files(self) -> TlsFiles | None:
        return self._tls_files

    # -- resources ------------------------------------------------------------------------------

    def create_user(
        self,
        name: str = "app-user",
        *,
        access_string: str = "on ~* &* +@all",
        auth_type: str = "password",
        password: str | None = None,
        acl: str | None = DEFAULT_ACL,
    ) -> str:
        """A MemoryDB user, in `acl` (None: in no ACL, so on no node); returns its password."""
        password = password or new_password()
        mode: dict[str, Any] = {"Type": auth_type}
        if auth_type == "password":
            mode["Passwords"] = [password]
            self.passwords_seen.add(password)
        self.memorydb_client.create_user(
            UserName=name,
            AuthenticationMode=mode,  # type: ignore[arg-type]
            AccessString=access_string,
        )
        if acl is not None:
            self.add_to_acl(acl, name)
        return password

    def user_arn(self, name: str) -> str:
        return user_arn(name)

    def secret_document(self, user: str, password: str, **extra: Any) -> dict[str, Any]:
        host, port = self.cluster().endpoint
        extra.setdefault("host", host)
        extra.setdefault("port", port)
        extra.setdefault("ssl", self.tls_enabled)
        return secret_document(user, password, **extra)

    def create_secret(
        self,
        user: str,
        password: str,
        *,
        name: str | None = None,
        rotation: bool = True,
        document: dict[str, Any] | None = None,
        secret_string: str | None = None,
        **extra: Any,
    ) -> str:
        """A secret in the documented format (or as given), with rotation enabled; its ARN."""
        self.passwords_seen.add(password)
        value = secret_string
        if value is None:
            value = json.dumps(document or self.secret_document(user, password, **extra))
        arn = self.sm_client.create_secret(Name=name or f"memorydb/{user}", SecretString=value)[
            "ARN"
        ]
        if rotation:
            self.enable_rotation(arn)
        return arn

    def driver(self, handler: Handler | None = None, **options: Any) -> RotationDriver:
        if handler is None:
            from rotation.handler import lambda_handler

            handler = lambda_handler
        return RotationDriver(
            handler,
            stage_pending=lambda arn, token, copy: self.stage_pending(
                arn, token, copy_current=copy
            ),
            finish_rotation=self.finish_rotation,
            **options,
        )

    # == The public surface ======================================================================
    # What tests, the demo, the reliability campaign and the benchmarks do to the sandbox and ask
    # of it. Callers use these (with view, authenticates and the boto3 clients) instead of the
    # machinery behind them (moto's backends, FaithfulMemoryDB, StrictSecretsManager), so that
    # machinery can change without touching them. Nothing here makes an AWS call or counts as one.

    # -- Secrets Manager: what the service does around a rotation ------------------------------

    def stage_pending(self, secret_arn: str, token: str, *, copy_current: bool = False) -> None:
        """RotateSecret's first act: an AWSPENDING version under `token` (a copy of AWSCURRENT
        when RotateImmediately=false); refused while another rotation's AWSPENDING stands."""
        self.secretsmanager.stage_pending(secret_arn, token, copy_current=copy_current)

    def finish_rotation(self, secret_arn: str, token: str) -> None:
        """After finishSecret succeeded: the service removes AWSPENDING from the new version."""
        self.secretsmanager.finish_rotation(secret_arn, token)

    def enable_rotation(self, secret_arn: str) -> None:
        self.secretsmanager.enable_rotation(secret_arn, LAMBDA_ARN)

    def disable_rotation(self, secret_arn: str) -> None:
        self.secretsmanager.disable_rotation(secret_arn)

    # -- Secrets Manager: hand edits no API call can make ---------------------------------------

    def set_version_stages(self, secret_arn: str, version: str, stages: Sequence[str]) -> None:
        """The version's labels become exactly `stages` (no other version changes)."""
        self.secretsmanager.set_version_stages(secret_arn, version, stages)

    def put_version(
        self,
        secret_arn: str,
        version: str,
        value: str | bytes | None = None,
        stages: Sequence[str] = (),
    ) -> None:
        """Creates or replaces a version with this value (bytes: a binary secret; None: no value)
        and these labels, past PutSecretValue's checks (size, one value per version)."""
        self.secretsmanager.put_version(secret_arn, version, value, stages)

    def delete_version(self, secret_arn: str, version: str) -> None:
        self.secretsmanager.delete_version(secret_arn, version)

    # -- the AWS calls the sandbox served -------------------------------------------------------

    def calls(self) -> list[str]:
        """Operation names served since the last clear_calls(): Secrets Manager's, MemoryDB's
        (users and tags, then discovery), then EventBridge Scheduler's (the names do not overlap;
        CreateSecret is not counted)."""
        return (
            self.secretsmanager.calls
            + self.memorydb.calls
            + self.topology.calls
            + self.scheduler.calls
        )

    def clear_calls(self) -> None:
        for calls in (
            self.secretsmanager.calls,
            self.memorydb.calls,
            self.topology.calls,
            self.scheduler.calls,
        ):
            calls.clear()

    # -- MemoryDB: the control plane's state and its propagation --------------------------------

    def settle(self) -> None:
        """Wait until every MemoryDB change has propagated to the data plane, then apply it."""
        self.memorydb.settle()

    def apply_due(self) -> None:
        """Apply the MemoryDB changes whose propagation delay has passed, without waiting."""
        self.memorydb.tick()

    def user_status(self, user: str) -> str:
        """`active` or `modifying`, as DescribeUsers would say (without a call)."""
        return self.memorydb.status(user)

    def password_count(self, user: str) -> int:
        """PasswordCount on the control plane (the data plane follows when the user is active)."""
        return self.memorydb.password_count(user)

    def control_plane_passwords(self, user: str) -> list[str]:
        """The password set MemoryDB holds for the user (and propagates)."""
        return self.memorydb.control_plane_passwords(user)

    def most_passwords_held(self, user: str) -> int:
        """The largest PasswordCount the user ever had (MemoryDB allows two)."""
        return self.memorydb.most_passwords_held(user)

    def has_user(self, user: str) -> bool:
        return self.memorydb.has_user(user)

    def hold_modifying(self, user: str, seconds: float) -> None:
        """The user is busy with some other change for `seconds`: `modifying`, updates refused."""
        self.memorydb.hold_modifying(user, seconds)

    def end_hold(self, user: str) -> None:
        """The other change finished early: the user turns `active` at the next observation."""
        self.memorydb.end_hold(user)

    def lose_next_propagation(self, user: str) -> None:
        """The user's next update turns `active` without ever reaching the data plane."""
        self.memorydb.lose_next_propagation(user)

    def set_propagation_delay(self, seconds: float) -> None:
        """How long each later update stays `modifying` before it reaches the data plane."""
        self.propagation_delay = seconds
        self.memorydb.propagation_delay = seconds

    @contextmanager
    def propagation_clock(self, clock: Callable[[], float]) -> Iterator[None]:
        """Propagation measured on `clock` inside the block; settled before and after, so no
        change straddles two clocks."""
        self.settle()
        saved = self.memorydb.clock
        self.memorydb.clock = clock
        try:
            yield
        finally:
            self.settle()
            self.memorydb.clock = saved

    # -- observation ----------------------------------------------------------------------------

    def view(self, secret_arn: str) -> SecretView:
        """Labels and values straight from the backend (no API call is counted)."""
        view = self.secretsmanager.view(secret_arn)
        for value in view.values.values():
            if isinstance(value, dict) and isinstance(value.get("password"), str):
                self.passwords_seen.add(value["password"])
        return view

    def authenticates(self, user: str, password: str) -> bool:
        """Ask the real redis-server: does this password work right now?"""
        return self.redis.authenticates(user, password)

    # -- topology: ACLs, clusters, nodes (sandbox/topology.py) ---------------------------------
    # Through the MemoryDB API where MemoryDB has one, so the function sees what it would see.

    def _start_default_cluster(self) -> None:
        """One ACL and one one-node cluster: the fast default every test gets."""
        self.create_acl(DEFAULT_ACL)
        self.create_cluster(DEFAULT_CLUSTER)
        self.redis = self.cluster(DEFAULT_CLUSTER).nodes[0].server
        """The default cluster's first node (what `authenticates` asks)."""

    def create_acl(self, name: str, users: Sequence[str] = ()) -> None:
        if users:  # the API wants at least one name, or no UserNames at all
            self.memorydb_client.create_acl(ACLName=name, UserNames=list(users))
        else:
            self.memorydb_client.create_acl(ACLName=name)

    def add_to_acl(self, acl: str, user: str) -> None:
        """The user joins the ACL; its password set reaches the ACL's clusters at once."""
        self.memorydb_client.update_acl(ACLName=acl, UserNamesToAdd=[user])

    def create_cluster(
        self, name: str, *, shards: int = 1, replicas_per_shard: int = 0, acl: str = DEFAULT_ACL
    ) -> ClusterHandle:
        """A cluster whose every node is a real server process (started in parallel)."""
        self.memorydb_client.create_cluster(
            ClusterName=name,
            NodeType="db.t4g.small",
            ACLName=acl,
            NumShards=shards,
            NumReplicasPerShard=replicas_per_shard,
            TLSEnabled=self.tls_enabled,
        )
        return self.cluster(name)

    def cluster(self, name: str = DEFAULT_CLUSTER) -> ClusterHandle:
        return self.topology.cluster(name)

    def node(self, name: str) -> NodeHandle:
        return self.topology.node(name)

    def lag_node(self, node_name: str, seconds: float) -> None:
        """From now on this node gets every password set `seconds` after the user is active."""
        self.topology.lag_node(node_name, seconds)

    def advertise_node(self, node_name: str, address: tuple[str, int] | None) -> None:
        """MemoryDB reports `address` for this node (e.g. a fault proxy in front of it)."""
        self.topology.advertise_node(node_name, address)

    def add_creating_shard(self, cluster_name: str = DEFAULT_CLUSTER) -> str:
        """MemoryDB lists one more shard whose node is `creating`, with no Endpoint yet (a shard
        being added); returns the node's name."""
        return self.topology.add_creating_shard(cluster_name)

    def finish_creating_shards(self, cluster_name: str = DEFAULT_CLUSTER) -> None:
        """The shards being added leave DescribeClusters' answer again."""
        self.topology.finish_creating_shards(cluster_name)

    def accepts_everywhere(self, user: str, password: str) -> dict[str, bool]:
        """node name -> does `AUTH user password` succeed there now, for every node of every
        cluster."""
        return self.topology.accepts_everywhere(user, password)

    def other_name_tls_files(self) -> TlsFiles:
        """A certificate from the sandbox's CA for another host name (verification must fail)."""
        return other_name_tls_files(self._own_authority())

    def independent_tls_files(self) -> TlsFiles:
        """A `localhost` certificate from a second CA that the sandbox's bundle does not hold."""
        return independent_tls_files(self._own_authority().directory / "independent")

    def _own_authority(self) -> TestAuthority:
        if self._authority is None:
            raise RuntimeError("this sandbox was given its TLS files; it has no CA of its own")
        return self._authority

    # -- OLD_PASSWORD_POLICY=drop-after: EventBridge Scheduler (sandbox/scheduler.py) ----------

    def drop_after(self, grace_seconds: float, **settings: str | None) -> None:
        """The function with `drop-after`, its schedule group, and the scheduler role's ARN, as
        the template sets them."""
        import boto3

        client = boto3.client("scheduler", region_name=REGION)
        if SCHEDULE_GROUP not in {
            g["Name"] for g in client.list_schedule_groups()["ScheduleGroups"]
        }:
            client.create_schedule_group(Name=SCHEDULE_GROUP)
        self.configure_function(
            OLD_PASSWORD_POLICY="drop-after",
            OLD_PASSWORD_GRACE_SECONDS=str(grace_seconds),
            SCHEDULE_GROUP_NAME=SCHEDULE_GROUP,
            SCHEDULER_ROLE_ARN=SCHEDULER_ROLE_ARN,
            **settings,
        )

    def fire_due_schedules(self, handler: Handler | None = None) -> list[Firing]:
        """What Scheduler does when a one-time schedule's time comes (on the sandbox's clock)."""
        if handler is None:
            from rotation.handler import lambda_handler

            handler = lambda_handler
        return self.scheduler.fire_due(handler)

    def pass_time(self, seconds: float, handler: Handler | None = None) -> list[Firing]:
        """Move the sandbox's clock on by `seconds`, then fire whatever came due."""
        self.scheduler.advance(seconds)
        return self.fire_due_schedules(handler)


def _reset_function() -> None:
    """Forget the function's cached settings and clients, as a new container would."""
    from rotation.composition import service

    service.cache_clear()
