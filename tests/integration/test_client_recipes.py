"""The client recipes (examples/clients/) against a real sandbox cluster: 3 shards x 2 nodes
over TLS, verified by name. Keys on every shard; then a rotation under each policy while the
client keeps working, its connections cut so that every node sees a new AUTH."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import redis
from glide_shared.exceptions import GlideError
from redis.crc import key_slot

from examples.clients import redis_py, valkey_glide
from rotation.handler import lambda_handler
from sandbox import Sandbox
from sandbox.sandbox import REGION
from sandbox.topology import ClusterHandle

pytestmark = pytest.mark.integration

CLUSTER = "clients"
CUTS = 2
ACL = "clients-acl"
REFUSED = (redis.AuthenticationError, redis.RedisClusterException, GlideError)
RECIPES: dict[str, Callable[..., Any]] = {
    "redis_py": redis_py.connect,
    "valkey_glide": valkey_glide.connect,
}


@pytest.fixture(scope="module")
def box() -> Iterator[tuple[Sandbox, ClusterHandle]]:
    """One cluster for the module: a 3 x 2 cluster costs about 2 s before it serves keys."""
    with Sandbox(propagation_delay=0.05) as sandbox:
        sandbox.create_acl(ACL)
        handle = sandbox.create_cluster(CLUSTER, shards=3, replicas_per_shard=1, acl=ACL)
        yield sandbox, handle.wait_serving()


_users = iter(range(1, 1000))


def _secret(sandbox: Sandbox, handle: ClusterHandle) -> tuple[str, str]:
    user = f"client-{next(_users)}"
    password = sandbox.create_user(user, acl=ACL)
    host, port = handle.endpoint
    return sandbox.create_secret(user, password, host=host, port=port), user


def _connect(recipe: str, arn: str, sandbox: Sandbox) -> Any:
    assert sandbox.tls_files is not None
    return RECIPES[recipe](
        arn,
        secrets_client=boto3.client("secretsmanager", region_name=REGION),
        ca_bundle_path=str(sandbox.tls_files.ca_cert),
    )


def _cut_connections(handle: ClusterHandle, user: str) -> None:
    """Every node drops the user's connections: the client's next command on each node AUTHs
    again, with whatever password it holds."""
    for node in handle.nodes:
        node.server.admin.execute_command("CLIENT", "KILL", "USER", user)  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_keys_on_every_shard_are_written_and_read_back(
    recipe: str, box: tuple[Sandbox, ClusterHandle]
) -> None:
    sandbox, handle = box
    arn, _ = _secret(sandbox, handle)
    keys = [f"recipe:{recipe}:{n}" for n in range(200)]
    shards_hit = {
        i
        for key in keys
        for i, (first, last) in enumerate(handle.slots)
        if first <= key_slot(key.encode()) <= last
    }
    assert shards_hit == {0, 1, 2}
    client = _connect(recipe, arn, sandbox)
    try:
        for key in keys:
            client.set(key, key[::-1])
        values = [client.get(key) for key in keys]
    finally:
        client.close()

    assert values == [key[::-1].encode() for key in keys]
    for shard, (first, last) in zip(handle.shards, handle.slots, strict=True):
        mine = [k for k in keys if first <= key_slot(k.encode()) <= last]
        primary = shard[0].server.admin
        # Each key lives on the shard that owns its slot.
        assert sum(primary.exists(key) for key in mine) == len(mine)


@dataclass
class Traffic:
    operations: int = 0
    failed: int = 0
    errors: list[str] | None = None


def _traffic(client: Any, prefix: str, stop: threading.Event) -> tuple[threading.Thread, Traffic]:
    counts = Traffic(errors=[])

    def run() -> None:
        n = 0
        while not stop.is_set():
            key = f"{prefix}:{n % 50}"
            try:
                client.set(key, str(n))
                client.get(key)
            except Exception as exc:  # noqa: BLE001 - every failure is counted, not raised
                counts.failed += 1
                assert counts.errors is not None
                counts.errors.append(type(exc).__name__)
            counts.operations += 2
            n += 1
            stop.wait(0.005)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, counts


@pytest.mark.parametrize("policy", ["drop", "drop-after", "keep"])
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_a_rotation_under_each_policy_loses_no_command(
    recipe: str,
    policy: str,
    box: tuple[Sandbox, ClusterHandle],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox, handle = box
    arn, user = _secret(sandbox, handle)
    if policy == "drop-after":
        sandbox.drop_after(600)
    else:
        sandbox.configure_function(OLD_PASSWORD_POLICY=policy)
    client = _connect(recipe, arn, sandbox)
    stop = threading.Event()
    thread, traffic = _traffic(client, f"rotating:{recipe}:{policy}", stop)
    try:
        outcome = sandbox.driver(lambda_handler).rotate(arn)
        assert outcome.succeeded, outcome.last_error
        sandbox.settle()
        for _ in range(CUTS):  # more than once: the re-read value must serve every node
            _cut_connections(handle, user)
            stop.wait(0.5)
    finally:
        stop.set()
        thread.join(timeout=30)
        client.close()
        sandbox.configure_function()
    rereads = client.provider.secret.rereads if recipe == "redis_py" else client.secret.rereads
    with capsys.disabled():
        print(
            f"\n  recipe {recipe:12} policy {policy:10} operations {traffic.operations:5} "
            f"failed {traffic.failed} retries {client.retries} re-reads {rereads}"
        )

    assert traffic.failed == 0, traffic.errors
    assert traffic.operations > 20
    assert client.retries == rereads
    if recipe == "redis_py":
        # Under drop the cached password died with the rotation: one refusal, one re-read,
        # and the re-read password serves every later connection. Otherwise nothing is refused.
        assert client.retries == (1 if policy == "drop" else 0)
    else:
        # glide cannot tell a refusal from a reconnect under way ("Connection in recovery"):
        # each cut of its connections may cost one re-read, whatever the policy.
        assert client.retries <= CUTS
        assert client.retries >= (1 if policy == "drop" else 0)


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_a_password_that_is_still_refused_after_the_reread_is_raised(
    recipe: str, box: tuple[Sandbox, ClusterHandle]
) -> None:
    sandbox, handle = box
    arn, user = _secret(sandbox, handle)
    client = _connect(recipe, arn, sandbox)
    try:
        client.set("still-refused", "1")
        stranger = sandbox.create_user(f"{user}-other", acl=None)
        for node in handle.nodes:
            node.server.apply_user(user, "on ~* &* +@all", [stranger])
        _cut_connections(handle, user)
        with pytest.raises(REFUSED) as raised:
            client.get("still-refused")
    finally:
        client.close()
        sandbox.settle()
    assert client.retries <= 1
    current = sandbox.view(arn).password("AWSCURRENT")
    assert current
    assert current not in str(raised.value)
