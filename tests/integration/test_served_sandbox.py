"""The served sandbox's options: clusters described wider than their real servers, and throttling.

Both go through HTTP to the served moto, as the load run and the benchmarks use them."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox.sandbox import REGION, Sandbox
from sandbox.server import ServedSandbox, Throttle, described_shards
from sandbox.tls import NODE_HOST
from sandbox.topology import ClusterHandle

ACL = "wide-acl"
CLUSTER = "wide"
USER = "wide-user"


@pytest.fixture
def served() -> Iterator[ServedSandbox]:
    with Sandbox(propagation_delay=0.02) as box, ServedSandbox(box) as server:
        yield server


def test_described_nodes_are_named_per_shard_and_cycle_over_the_real_ones() -> None:
    real = [
        {"Name": f"r{i}", "Endpoint": {"Address": "localhost", "Port": 7000 + i}} for i in (0, 1)
    ]

    shards = described_shards(real, 5, "c")

    assert [shard["Name"] for shard in shards] == ["0001", "0002", "0003"]
    assert [shard["NumberOfNodes"] for shard in shards] == [2, 2, 1]
    nodes = [node for shard in shards for node in shard["Nodes"]]
    assert [node["Name"] for node in nodes] == [
        "c-0001-001",
        "c-0001-002",
        "c-0002-001",
        "c-0002-002",
        "c-0003-001",
    ]
    assert [node["Endpoint"]["Port"] for node in nodes] == [7000, 7001, 7000, 7001, 7000]
    assert shards[0]["Slots"] == "0-5460"
    assert shards[-1]["Slots"].endswith("-16383")
    assert real[0]["Name"] == "r0"  # the real descriptions are not edited


def test_a_cluster_of_1500_described_nodes_runs_on_three_servers(served: ServedSandbox) -> None:
    sandbox = served.sandbox
    sandbox.create_acl(ACL)
    handle = served.create_described_cluster(CLUSTER, nodes=1500, servers=3, acl=ACL)
    password = sandbox.create_user(USER, acl=ACL)

    cluster = served.client("memorydb").describe_clusters(
        ClusterName=CLUSTER, ShowShardDetails=True
    )["Clusters"][0]

    assert len(handle.nodes) == 3
    nodes = [node for shard in cluster["Shards"] for node in shard["Nodes"]]
    assert len(nodes) == 1500
    assert cluster["NumberOfShards"] == 750
    assert len({node["Name"] for node in nodes}) == 1500
    real = {node.endpoint for node in handle.nodes}
    assert {(n["Endpoint"]["Address"], n["Endpoint"]["Port"]) for n in nodes} == real
    # Every real server behind the described nodes holds the user's password set.
    sandbox.settle()
    accepted = sandbox.accepts_everywhere(USER, password)
    assert [accepted[node.name] for node in handle.nodes] == [True, True, True]


def test_a_full_rotation_proves_every_described_node(served: ServedSandbox) -> None:
    sandbox = served.sandbox
    sandbox.create_acl(ACL)
    handle = served.create_described_cluster(CLUSTER, nodes=40, servers=2, acl=ACL)
    password = sandbox.create_user(USER, acl=ACL)
    host, port = handle.endpoint
    arn = sandbox.create_secret(USER, password, host=host, port=port)

    outcome = sandbox.driver().rotate(arn)

    assert outcome.succeeded, outcome.last_error
    new = sandbox.view(arn).password("AWSCURRENT")
    assert new is not None
    assert new != password
    sandbox.settle()
    accepted = sandbox.accepts_everywhere(USER, new)
    assert [accepted[node.name] for node in handle.nodes] == [True, True]
    assert not sandbox.accepts_everywhere(USER, password)[handle.nodes[0].name]


def test_described_nodes_can_be_given_endpoints_of_their_own() -> None:
    real = [{"Name": "r0", "Endpoint": {"Address": "localhost", "Port": 7000}}]

    shards = described_shards(real, 3, "c", [("h", 1), ("h", 2), ("h", 3)])

    nodes = [node for shard in shards for node in shard["Nodes"]]
    assert [node["Endpoint"] for node in nodes] == [
        {"Address": "h", "Port": port} for port in (1, 2, 3)
    ]
    with pytest.raises(ValueError, match="one endpoint per described node"):
        described_shards(real, 3, "c", [("h", 1)])


def _accepted(handle: ClusterHandle) -> list[int]:
    """Connections each real server has accepted (INFO only: no command the rotation sees)."""
    return [
        int(node.server.admin.info("stats")["total_connections_received"]) for node in handle.nodes
    ]


def test_described_nodes_of_their_own_are_endpoints_a_rotation_connects_to_four_times_each(
    served: ServedSandbox,
) -> None:
    sandbox = served.sandbox
    sandbox.create_acl(ACL)
    handle = served.create_described_cluster(
        CLUSTER, nodes=6, servers=2, acl=ACL, own_endpoints=True
    )
    password = sandbox.create_user(USER, acl=ACL)
    host, port = handle.endpoint
    arn = sandbox.create_secret(USER, password, host=host, port=port)

    cluster = served.client("memorydb").describe_clusters(
        ClusterName=CLUSTER, ShowShardDetails=True
    )["Clusters"][0]
    described = [
        (node["Endpoint"]["Address"], node["Endpoint"]["Port"])
        for shard in cluster["Shards"]
        for node in shard["Nodes"]
    ]
    assert len(described) == 6
    assert len(set(described)) == 6
    assert described == served.described_endpoints(CLUSTER)
    assert {address for address, _ in described} == {NODE_HOST}
    assert not set(described) & {node.endpoint for node in handle.nodes}

    sandbox.settle()
    before = _accepted(handle)
    outcome = sandbox.driver().rotate(arn)
    after = _accepted(handle)

    assert outcome.succeeded, outcome.last_error
    # Round robin: each of the two servers stands behind three described nodes.
    assert [a - b for a, b in zip(after, before, strict=True)] == [12, 12]
    assert [served.connections_accepted(e) for e in described] == [4] * 6
    new = sandbox.view(arn).password("AWSCURRENT")
    assert new is not None
    sandbox.settle()
    assert all(sandbox.accepts_everywhere(USER, new)[node.name] for node in handle.nodes)


def test_endpoints_of_their_own_are_only_for_clusters_made_so(served: ServedSandbox) -> None:
    served.sandbox.create_acl(ACL)
    served.create_described_cluster(CLUSTER, nodes=2, servers=1, acl=ACL)

    with pytest.raises(ValueError, match="endpoints of its own"):
        served.described_endpoints(CLUSTER)
    with pytest.raises(ValueError, match="endpoints of its own"):
        served.connections_accepted((NODE_HOST, 1))


def test_more_servers_than_nodes_starts_one_per_node(served: ServedSandbox) -> None:
    served.sandbox.create_acl(ACL)

    handle = served.create_described_cluster(CLUSTER, nodes=2, servers=5, acl=ACL)

    assert len(handle.nodes) == 2


@pytest.mark.parametrize(("nodes", "servers"), [(0, 1), (3, -1)])
def test_a_described_cluster_needs_nodes_and_servers(
    served: ServedSandbox, nodes: int, servers: int
) -> None:
    with pytest.raises(ValueError, match="at least one"):
        served.create_described_cluster(CLUSTER, nodes=nodes, servers=servers)
    assert CLUSTER not in served.sandbox.topology.clusters


def test_throttling_answers_a_share_of_calls_only_while_enabled() -> None:
    no_retries = Config(retries={"total_max_attempts": 1})
    with (
        Sandbox(propagation_delay=0.02) as sandbox,
        ServedSandbox(sandbox, throttle=Throttle(share=0.5, seed=7)) as served,
    ):
        client = boto3.client(
            "secretsmanager", region_name=REGION, endpoint_url=served.endpoint, config=no_retries
        )
        assert client.list_secrets()["SecretList"] == []
        assert served.throttle.requests == 0  # off until enabled

        served.throttle.enabled = True
        errors = []
        for _ in range(40):
            try:
                client.list_secrets()
            except ClientError as exc:
                errors.append(exc.response["Error"]["Code"])
        served.throttle.enabled = False

        assert served.throttle.requests == 40
        assert served.throttle.throttled == len(errors)
        assert 5 < len(errors) < 35
        assert set(errors) == {"ThrottlingException"}
        client.list_secrets()
        assert served.throttle.requests == 40
