"""The consumer campaign: real clients of the rotated secret, opening connections through rotations
under each OLD_PASSWORD_POLICY, counting the connections that failed.

Three kinds of consumer, each a thread that opens a new connection every `interval` seconds and
AUTHs with the password it holds:
- `cached`: AWS's caching client (`aws_secretsmanager_caching.SecretCache`) at a short refresh
  interval R, used the naive way: the cached AWSCURRENT, nothing else;
- `reread`: the redis-py cluster recipe (examples/clients/redis_py.py): one RedisCluster per
  consumer over the same cache, its connections dropped before each command so that every one
  AUTHs anew; on an AUTH failure one re-read of AWSCURRENT and one retry; a connection fails
  only if the retry does;
- `fresh`: a RedisCluster whose credential provider calls GetSecretValue(AWSCURRENT) for every
  connection.

Per policy the function rotates `rotations` times, `spacing` seconds apart (at least the grace,
so each drop-after grace ends before the next rotation); the sandbox fires due schedules and lets
MemoryDB's propagation reach redis-server in the meantime, on the wall clock, because the caching
client reads the wall clock. After the last rotation it waits out the grace, and the user must
hold one password again (`drop`, `drop-after`).

What it promises: 0 failed connections for every kind with `drop-after` when the grace exceeds R
and rotations are a grace apart; and `reread` and `fresh` at 0 under every policy. `cached` under
`drop` is what the grace fixes: it fails from each drop until its next refresh.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import redis
from aws_secretsmanager_caching import SecretCache, SecretCacheConfig
from redis.backoff import NoBackoff
from redis.credentials import CredentialProvider

from examples.clients.redis_py import RereadingRedisCluster, SecretCredentialProvider
from examples.clients.secret import AWSCURRENT, AwsCurrentSecret
from sandbox.sandbox import REGION, Sandbox
from sandbox.topology import ClusterHandle

KINDS = ("cached", "reread", "fresh")
POLICIES = ("drop", "keep", "drop-after")
CONSUMERS_ACL = "consumers-acl"


@dataclass(frozen=True)
class Plan:
    refresh_seconds: int = 2
    """The caching client's secret_refresh_interval R (it refreshes after R/2 to R)."""
    grace_seconds: int = 3
    spacing_seconds: float = 4.5
    """Between rotations: more than the grace plus at()'s rounding up."""
    rotations: int = 2
    consumers_per_kind: int = 3
    interval_seconds: float = 0.05
    propagation_delay: float = 0.2
    policies: tuple[str, ...] = POLICIES
    shards: int = 2
    replicas: int = 1
    """The consumers' cluster: every kind reaches it as a Redis Cluster over TLS."""


CI_PLAN = Plan()
# The setting of the grace-period measurement: R = 3 s, 5 consumers of each kind, 4 rotations.
FULL_PLAN = Plan(
    refresh_seconds=3, grace_seconds=4, spacing_seconds=6.0, rotations=4, consumers_per_kind=5
)


@dataclass
class KindCount:
    connections: int = 0
    failed: int = 0
    longest_streak: float = 0.0
    """Seconds from one consumer's first failure to its next success, the longest seen."""


@dataclass
class PolicyResult:
    policy: str
    counts: dict[str, KindCount]
    rotations_ok: int
    rotations: int
    final_password_count: int
    errors: list[str] = field(default_factory=list)

    def judged_ok(self) -> bool:
        """Everything the project promises for this policy held."""
        judged = [k for k in KINDS if not (self.policy == "drop" and k == "cached")]
        if any(self.counts[k].failed for k in judged):
            return False
        if self.rotations_ok != self.rotations or self.errors:
            return False
        return self.policy == "keep" or self.final_password_count == 1

    def line(self) -> str:
        cells = ", ".join(
            f"{kind} {self.counts[kind].failed}/{self.counts[kind].connections}"
            + (
                f" (streak {self.counts[kind].longest_streak:.1f}s)"
                if self.counts[kind].failed
                else ""
            )
            for kind in KINDS
        )
        return (
            f"  {self.policy:10} failed connections: {cells}; rotations "
            f"{self.rotations_ok}/{self.rotations}; PasswordCount after {self.final_password_count}"
        )


class Consumer(threading.Thread):
    def __init__(
        self,
        kind: str,
        connect: Callable[[], None],
        interval: float,
        stop: threading.Event,
    ) -> None:
        super().__init__(daemon=True, name=f"consumer-{kind}")
        self.kind = kind
        self._connect = connect
        self._interval = interval
        self._halt = stop
        self.count = KindCount()
        self.errors: list[str] = []

    def run(self) -> None:
        failing_since: float | None = None
        while not self._halt.is_set():
            started = time.monotonic()
            ok = True
            try:
                self._connect()
            except redis.AuthenticationError:
                ok = False
            except Exception as exc:  # noqa: BLE001 - anything else is the campaign's own error
                self.errors.append(f"{self.kind}: {type(exc).__name__}: {exc}")
                ok = False
            self.count.connections += 1
            if ok:
                if failing_since is not None:
                    streak = started - failing_since
                    self.count.longest_streak = max(self.count.longest_streak, streak)
                    failing_since = None
            else:
                self.count.failed += 1
                failing_since = failing_since if failing_since is not None else started
            self._halt.wait(self._interval)


def _cached_connect(
    arn: str, plan: Plan, host: str, port: int, tls: dict[str, Any]
) -> Callable[[], None]:
    cache = SecretCache(
        SecretCacheConfig(secret_refresh_interval=plan.refresh_seconds),
        client=boto3.client("secretsmanager", region_name=REGION),
    )

    def connect() -> None:
        document = json.loads(cache.get_secret_string(arn))
        options: dict[str, Any] = {"ssl_ca_certs": tls["ssl_ca_certs"]} if tls else {}
        kind: type[redis.Connection] = redis.SSLConnection if tls else redis.Connection
        connection = kind(
            **options,
            host=host,
            port=port,
            username=document["username"],
            password=document["password"],
            socket_timeout=2,
            retry=redis.retry.Retry(NoBackoff(), 0),
        )
        try:
            connection.connect()  # type: ignore[no-untyped-call]
        finally:
            connection.disconnect()  # type: ignore[no-untyped-call]

    return connect


def _cluster_options(host: str, port: int, tls: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"host": host, "port": port, "socket_timeout": 2}
    if tls:
        options.update(ssl=True, ssl_ca_certs=tls["ssl_ca_certs"], ssl_check_hostname=True)
    return options


def _reread_connect(
    arn: str, plan: Plan, host: str, port: int, tls: dict[str, Any]
) -> Callable[[], None]:
    sm = boto3.client("secretsmanager", region_name=REGION)
    cache = SecretCache(SecretCacheConfig(secret_refresh_interval=plan.refresh_seconds), client=sm)
    secret = AwsCurrentSecret(
        arn, secrets_client=sm, cache=cache, cache_refresh_seconds=plan.refresh_seconds
    )
    client = RereadingRedisCluster(
        SecretCredentialProvider(secret), **_cluster_options(host, port, tls)
    )

    def connect() -> None:
        # The same client object throughout; its connections go, so the PING AUTHs anew.
        client.disconnect_connection_pools()  # type: ignore[no-untyped-call]
        client.ping()

    return connect


class _FreshProvider(CredentialProvider):
    def __init__(self, arn: str) -> None:
        self._arn = arn
        self._client = boto3.client("secretsmanager", region_name=REGION)

    def get_credentials(self) -> tuple[str, str]:
        value = self._client.get_secret_value(SecretId=self._arn, VersionStage=AWSCURRENT)
        document = json.loads(value["SecretString"])
        return str(document["username"]), str(document["password"])


def _fresh_connect(
    arn: str, plan: Plan, host: str, port: int, tls: dict[str, Any]
) -> Callable[[], None]:
    client = redis.RedisCluster(
        credential_provider=_FreshProvider(arn), **_cluster_options(host, port, tls)
    )

    def connect() -> None:
        client.disconnect_connection_pools()  # type: ignore[no-untyped-call]
        client.ping()

    return connect


_CONNECTS = {"cached": _cached_connect, "reread": _reread_connect, "fresh": _fresh_connect}


@contextmanager
def _consumers(
    arn: str, plan: Plan, host: str, port: int, tls: dict[str, Any]
) -> Iterator[list[Consumer]]:
    stop = threading.Event()
    consumers = [
        Consumer(kind, _CONNECTS[kind](arn, plan, host, port, tls), plan.interval_seconds, stop)
        for kind in KINDS
        for _ in range(plan.consumers_per_kind)
    ]
    for consumer in consumers:
        consumer.start()
    try:
        yield consumers
    finally:
        stop.set()
        for consumer in consumers:
            consumer.join(timeout=10)


def _pass(sandbox: Sandbox, seconds: float) -> list[str]:
    """Let wall-clock time pass as AWS would: propagation reaches the data plane, due schedules
    fire. Returns the failures of fired drops."""
    errors = []
    deadline = time.monotonic() + seconds
    while True:
        sandbox.apply_due()
        for firing in sandbox.fire_due_schedules():
            if not firing.succeeded:
                errors.append(f"the scheduled drop failed: {firing.errors}")
        left = deadline - time.monotonic()
        if left <= 0:
            return errors
        time.sleep(min(0.05, left))


def run_policy(
    sandbox: Sandbox, policy: str, plan: Plan, user: str, cluster: ClusterHandle
) -> PolicyResult:
    password = sandbox.create_user(user, acl=cluster.acl)
    host, port = cluster.endpoint
    arn = sandbox.create_secret(user, password, name=f"memorydb/{user}", host=host, port=port)
    if policy == "drop-after":
        sandbox.drop_after(plan.grace_seconds)
    else:
        sandbox.configure_function(OLD_PASSWORD_POLICY=policy)
    driver = sandbox.driver()
    errors: list[str] = []
    rotations_ok = 0
    files = sandbox.tls_files
    tls = {"ssl": True, "ssl_ca_certs": str(files.ca_cert)} if files is not None else {}
    with _consumers(arn, plan, host, port, tls) as consumers:
        errors += _pass(sandbox, 0.5)
        for _ in range(plan.rotations):
            outcome = driver.rotate(arn)
            rotations_ok += outcome.succeeded
            if not outcome.succeeded:
                errors.append(f"rotation failed: {outcome.last_error}")
            errors += _pass(sandbox, plan.spacing_seconds)
    sandbox.settle()
    counts = {kind: KindCount() for kind in KINDS}
    for consumer in consumers:
        count = counts[consumer.kind]
        count.connections += consumer.count.connections
        count.failed += consumer.count.failed
        count.longest_streak = max(count.longest_streak, consumer.count.longest_streak)
        errors += consumer.errors[:3]
    return PolicyResult(
        policy,
        counts,
        rotations_ok,
        plan.rotations,
        sandbox.password_count(user),
        errors,
    )


def run_consumers(
    plan: Plan = CI_PLAN, *, progress: Callable[[PolicyResult], Any] | None = None
) -> list[PolicyResult]:
    results = []
    with Sandbox(propagation_delay=plan.propagation_delay) as sandbox:
        sandbox.create_acl(CONSUMERS_ACL)
        cluster = sandbox.create_cluster(
            "consumers", shards=plan.shards, replicas_per_shard=plan.replicas, acl=CONSUMERS_ACL
        ).wait_serving()
        for number, policy in enumerate(plan.policies, start=1):
            result = run_policy(sandbox, policy, plan, user=f"consumer-{number}", cluster=cluster)
            results.append(result)
            if progress is not None:
                progress(result)
        sandbox.configure_function()
    return results
