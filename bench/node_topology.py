"""A hand-built MemoryDB topology for the every-node memory benchmark, served by moto.

moto 5.2.5 has no ACL API and invents node endpoints (docs/decisions.md, discovery). bench.server
runs moto over HTTP in its own process, not the in-process sandbox (sandbox/topology.py), so this
gives that moto exactly what the function's discovery reads: the user's `ACLNames`, one ACL
holding the user and naming one cluster, and that cluster with `shards x 2` nodes whose endpoints
are the benchmark's real TLS redis-servers. The function discovers them through DescribeUsers ->
DescribeACLs -> DescribeClusters like any other topology, so its calls and its memory are what a
20-node cluster costs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol

from moto.core.responses import ActionResult
from moto.memorydb.models import MemoryDBBackend
from moto.memorydb.responses import MemoryDBResponse

from sandbox.redis_server import RedisServer, RedisServerError
from sandbox.tls import TlsFiles

ACL = "bench-acl"
CLUSTER = "bench-cluster"
NODES_PER_SHARD = 2
# A server's port is chosen free and bound a moment later; other work on the machine can take it
# in between (seen once in a full `make bench`). A fresh port is tried, a bounded number of times.
START_ATTEMPTS = 3


def _start_one(tls: TlsFiles) -> RedisServer:
    for attempt in range(1, START_ATTEMPTS + 1):
        server = RedisServer(tls=tls)
        try:
            return server.start()
        except RedisServerError:
            server.stop()
            if attempt == START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


@contextmanager
def running_servers(count: int, tls: TlsFiles) -> Iterator[list[RedisServer]]:
    """`count` TLS redis-servers, started in parallel, all stopped on exit (also when one of
    them could not start)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(_start_one, tls) for _ in range(count)]
    started = [f.result() for f in futures if f.exception() is None]
    try:
        for future in futures:
            future.result()  # the first start that failed for good, if any
        yield started
    finally:
        for server in started:
            server.stop()


class Listening(Protocol):
    host: str
    port: int


class FanOut:
    """The data plane FaithfulMemoryDB propagates to: every node gets the user's set."""

    def __init__(self, servers: Sequence[RedisServer]) -> None:
        self.servers = list(servers)

    def apply_user(self, name: str, access_string: str, passwords: Sequence[str]) -> None:
        for server in self.servers:
            server.apply_user(name, access_string, passwords)

    def delete_user(self, name: str) -> None:
        for server in self.servers:
            server.delete_user(name)


def cluster_description(
    servers: Sequence[Listening], *, account: str, region: str
) -> dict[str, Any]:
    """DescribeClusters' entry for CLUSTER with shard details: consecutive servers form a shard
    (a primary and its replica); the first server is also the cluster endpoint."""
    shards = []
    for index in range(0, len(servers), NODES_PER_SHARD):
        shard = f"{index // NODES_PER_SHARD + 1:04d}"
        shards.append(
            {
                "Name": shard,
                "Status": "available",
                "NumberOfNodes": len(servers[index : index + NODES_PER_SHARD]),
                "Nodes": [
                    {
                        "Name": f"{CLUSTER}-{shard}-{offset + 1:03d}",
                        "Status": "available",
                        "Endpoint": {"Address": server.host, "Port": server.port},
                    }
                    for offset, server in enumerate(servers[index : index + NODES_PER_SHARD])
                ],
            }
        )
    return {
        "Name": CLUSTER,
        "Status": "available",
        "ACLName": ACL,
        "TLSEnabled": True,
        "NumberOfShards": len(shards),
        "ClusterEndpoint": {"Address": servers[0].host, "Port": servers[0].port},
        "ARN": f"arn:aws:memorydb:{region}:{account}:cluster/{CLUSTER}",
        "Shards": shards,
    }


@contextmanager
def served(
    backend: MemoryDBBackend,
    user: str,
    servers: Sequence[RedisServer],
    *,
    account: str,
    region: str,
) -> Iterator[None]:
    """While open, moto answers DescribeACLs and DescribeClusters with the hand-built topology
    and the user sits in ACL."""
    backend.users[user].acl_names = [ACL]
    cluster = cluster_description(servers, account=account, region=region)
    acl = {"Name": ACL, "Status": "active", "UserNames": [user], "Clusters": [CLUSTER]}
    original = MemoryDBResponse.describe_clusters

    def describe_acls(response: MemoryDBResponse) -> ActionResult:
        wanted = json.loads(response.body).get("ACLName")
        return ActionResult({"ACLs": [acl] if wanted in (None, ACL) else []})

    def describe_clusters(response: MemoryDBResponse) -> ActionResult:
        wanted = json.loads(response.body).get("ClusterName")
        return ActionResult({"Clusters": [cluster] if wanted in (None, CLUSTER) else []})

    # moto looks the action up by camelcase_to_underscores("DescribeACLs").
    MemoryDBResponse.describe_ac_ls = describe_acls  # type: ignore[attr-defined]
    MemoryDBResponse.describe_clusters = describe_clusters  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        del MemoryDBResponse.describe_ac_ls  # type: ignore[attr-defined]
        MemoryDBResponse.describe_clusters = original  # type: ignore[method-assign]
