"""The sandbox's topology: MemoryDB's ACL and cluster API as the function will read it, and real
nodes behind every endpoint it reports (sandbox/topology.py, docs/sandbox.md)."""

from __future__ import annotations

import datetime
import itertools
import os
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from botocore.exceptions import ClientError

from sandbox import Sandbox
from sandbox.redis_server import RedisServer, shards_of
from sandbox.sandbox import DEFAULT_ACL, DEFAULT_CLUSTER, new_password
from sandbox.tls import NODE_HOST, TlsFiles
from tests.reliability.campaign.proxy import TcpFaultProxy

pytestmark = pytest.mark.integration


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def box(engine: str) -> Iterator[Sandbox]:
    with Sandbox(engine=engine, propagation_delay=0.01) as sandbox:
        yield sandbox


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timed_box(engine: str, clock: FakeClock) -> Iterator[Sandbox]:
    """A sandbox on a fake clock: a set becomes visible on a node only when the test moves the
    clock past its time, so order and lag are asserted without racing the wall clock."""
    with Sandbox(engine=engine, propagation_delay=1.0, node_lag=0.5, clock=clock) as sandbox:
        yield sandbox


def _conforms(value: Any, shape: Any, path: str = "") -> list[str]:
    """Where `value` (a parsed answer) departs from botocore's shape: wrong types, and members
    the shape requires that are missing."""
    kinds: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "integer": int,
        "long": int,
        "boolean": bool,
        "timestamp": datetime.datetime,
        "list": list,
        "structure": dict,
        "map": dict,
    }
    expected = kinds.get(shape.type_name)
    if expected is not None and not isinstance(value, expected):
        return [f"{path}: {type(value).__name__} is not {shape.type_name}"]
    problems: list[str] = []
    if shape.type_name == "structure":
        problems += [f"{path}.{m}: missing" for m in shape.required_members if m not in value]
        for key, item in value.items():
            if key not in shape.members:
                problems.append(f"{path}.{key}: not in the model")
            else:
                problems += _conforms(item, shape.members[key], f"{path}.{key}")
    elif shape.type_name == "list":
        for i, item in enumerate(value):
            problems += _conforms(item, shape.member, f"{path}[{i}]")
    return problems


def _model_problems(client: Any, operation: str, answer: Any) -> list[str]:
    model = client.meta.service_model.operation_model(operation)
    body = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    return _conforms(body, model.output_shape, operation)


def _error_code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


def _set_passwords(sandbox: Sandbox, user: str, *passwords: str) -> None:
    sandbox.memorydb_client.update_user(
        UserName=user, AuthenticationMode={"Type": "password", "Passwords": list(passwords)}
    )


def _status(sandbox: Sandbox, user: str) -> str:
    return sandbox.memorydb_client.describe_users(UserName=user)["Users"][0]["Status"]


# -- the default ---------------------------------------------------------------------------------


def test_default_sandbox_is_one_tls_node_in_one_acl(box: Sandbox, engine: str) -> None:
    password = box.create_user("app-user")

    clusters = box.memorydb_client.describe_clusters(ShowShardDetails=True)["Clusters"]
    assert [c["Name"] for c in clusters] == [DEFAULT_CLUSTER]
    (cluster,) = clusters
    assert cluster["ACLName"] == DEFAULT_ACL
    assert cluster["TLSEnabled"] is True
    assert cluster["Engine"] == engine
    (node,) = box.cluster().nodes
    assert cluster["ClusterEndpoint"] == {"Address": NODE_HOST, "Port": node.port}
    assert box.cluster().endpoint == (NODE_HOST, node.port)
    assert box.redis is node.server
    assert box.authenticates("app-user", password)

    document = box.secret_document("app-user", password)
    assert (document["host"], document["port"], document["ssl"]) == (NODE_HOST, node.port, True)
    assert box.tls_files is not None
    assert os.environ["CA_BUNDLE_PATH"] == str(box.tls_files.ca_cert)
    user = box.memorydb_client.describe_users(UserName="app-user")["Users"][0]
    assert user["ACLNames"] == [DEFAULT_ACL]


# -- ACLs ------------------------------------------------------------------------------------------


def test_describe_acls_shape_and_pagination(box: Sandbox) -> None:
    box.create_user("u1")
    box.create_user("u2", acl=None)
    for n in range(3):
        box.create_acl(f"acl-{n}", users=["u2"] if n == 1 else ())
    client = box.memorydb_client

    seen: list[Any] = []
    pages = 0
    kwargs: dict[str, Any] = {"MaxResults": 2}
    while True:
        answer = client.describe_acls(**kwargs)
        assert len(answer["ACLs"]) <= 2
        seen += answer["ACLs"]
        pages += 1
        if "NextToken" not in answer:
            break
        kwargs["NextToken"] = answer["NextToken"]
    assert pages == 3
    by_name = {acl["Name"]: acl for acl in seen}
    assert list(by_name) == ["open-access", DEFAULT_ACL, "acl-0", "acl-1", "acl-2"]
    assert all(_conforms(acl, client.meta.service_model.shape_for("ACL")) == [] for acl in seen)
    assert by_name["open-access"]["UserNames"] == ["default"]
    assert by_name[DEFAULT_ACL]["UserNames"] == ["u1"]
    assert by_name[DEFAULT_ACL]["Clusters"] == [DEFAULT_CLUSTER]
    assert by_name["acl-1"] == {
        "Name": "acl-1",
        "Status": "active",
        "UserNames": ["u2"],
        "MinimumEngineVersion": "6.2",
        "PendingChanges": {},
        "Clusters": [],
        "ARN": "arn:aws:memorydb:us-east-1:123456789012:acl/acl-1",
    }
    assert [a["Name"] for a in client.describe_acls(ACLName="acl-2")["ACLs"]] == ["acl-2"]
    assert _model_problems(client, "DescribeACLs", client.describe_acls()) == []
    assert _model_problems(client, "DescribeACLs", client.describe_acls(MaxResults=1)) == []
    created = client.create_acl(ACLName="acl-3", UserNames=["u1"])
    assert _model_problems(client, "CreateACL", created) == []
    assert created["ACL"]["UserNames"] == ["u1"]
    paginated = client.get_paginator("describe_acls").paginate(PaginationConfig={"PageSize": 1})
    assert [a["Name"] for page in paginated for a in page["ACLs"]] == [*by_name, "acl-3"]

    with pytest.raises(ClientError) as missing:
        client.describe_acls(ACLName="no-such-acl")
    assert _error_code(missing) == "ACLNotFoundFault"
    with pytest.raises(ClientError) as bad_token:
        client.describe_acls(NextToken="not-a-token")
    assert _error_code(bad_token) == "InvalidParameterValueException"


def test_acl_membership_is_kept_in_step_with_users(box: Sandbox) -> None:
    client = box.memorydb_client
    box.create_user("u", acl=None)

    def acl_names() -> list[str]:
        return list(client.describe_users(UserName="u")["Users"][0]["ACLNames"])

    assert acl_names() == []
    box.create_acl("second", users=["u"])
    box.add_to_acl(DEFAULT_ACL, "u")
    assert acl_names() == ["sandbox-acl", "second"]
    client.update_acl(ACLName="second", UserNamesToRemove=["u"])
    assert acl_names() == ["sandbox-acl"]
    client.delete_acl(ACLName="second")
    assert [a["Name"] for a in client.describe_acls()["ACLs"]] == ["open-access", DEFAULT_ACL]

    refusals: list[tuple[str, Callable[[], object]]] = [
        (
            "UserNotFoundFault",
            lambda: client.update_acl(ACLName=DEFAULT_ACL, UserNamesToAdd=["ghost"]),
        ),
        (
            "DuplicateUserNameFault",
            lambda: client.update_acl(ACLName=DEFAULT_ACL, UserNamesToAdd=["u"]),
        ),
        ("ACLAlreadyExistsFault", lambda: client.create_acl(ACLName=DEFAULT_ACL)),
        (
            "InvalidParameterValueException",
            lambda: client.create_acl(ACLName="1-starts-with-a-digit"),
        ),
        (
            "ACLNotFoundFault",
            lambda: client.update_acl(ACLName="gone", UserNamesToAdd=["u"]),
        ),
        ("InvalidACLStateFault", lambda: client.delete_acl(ACLName=DEFAULT_ACL)),
        (
            "InvalidParameterValueException",
            lambda: client.update_acl(ACLName="open-access", UserNamesToAdd=["u"]),
        ),
    ]
    for code, call in refusals:
        with pytest.raises(ClientError) as raised:
            call()
        assert _error_code(raised) == code


def test_create_cluster_refuses_an_unknown_acl(box: Sandbox) -> None:
    with pytest.raises(ClientError) as raised:
        box.create_cluster("orphan", acl="no-such-acl")

    assert _error_code(raised) == "ACLNotFoundFault"
    assert [c["Name"] for c in box.memorydb_client.describe_clusters()["Clusters"]] == [
        DEFAULT_CLUSTER
    ]


# -- clusters ------------------------------------------------------------------------------------


def test_describe_clusters_reports_real_nodes(box: Sandbox, engine: str) -> None:
    password = box.create_user("u")
    handle = box.create_cluster("two-by-two", shards=2, replicas_per_shard=1)
    client = box.memorydb_client

    (cluster,) = client.describe_clusters(ClusterName="two-by-two", ShowShardDetails=True)[
        "Clusters"
    ]
    assert cluster["ClusterEndpoint"] == {"Address": NODE_HOST, "Port": handle.endpoint[1]}
    assert (cluster["TLSEnabled"], cluster["ACLName"], cluster["Engine"]) == (
        True,
        DEFAULT_ACL,
        engine,
    )
    assert (cluster["NumberOfShards"], cluster["AvailabilityMode"]) == (2, "MultiAZ")
    assert [s["Name"] for s in cluster["Shards"]] == ["0001", "0002"]
    assert [s["Slots"] for s in cluster["Shards"]] == ["0-8191", "8192-16383"]
    nodes = [node for shard in cluster["Shards"] for node in shard["Nodes"]]
    assert [n["Name"] for n in nodes] == [
        "two-by-two-0001-001",
        "two-by-two-0001-002",
        "two-by-two-0002-001",
        "two-by-two-0002-002",
    ]
    assert {n["Endpoint"]["Address"] for n in nodes} == {NODE_HOST}
    ports = [n["Endpoint"]["Port"] for n in nodes]
    assert len(set(ports)) == 4
    assert ports == [node.port for node in handle.nodes]
    # Every reported endpoint is a real, verified TLS server holding the ACL's user.
    assert box.tls_files is not None
    for port in ports:
        client_ = redis.Redis(
            host="localhost",
            port=port,
            username="u",
            password=password,
            ssl=True,
            ssl_ca_certs=str(box.tls_files.ca_cert),
            ssl_check_hostname=True,
            protocol=2,
        )
        try:
            assert client_.ping()
        finally:
            client_.close()

    detailed = client.describe_clusters(ShowShardDetails=True)
    assert _model_problems(client, "DescribeClusters", detailed) == []
    plain = client.describe_clusters(ClusterName="two-by-two")["Clusters"][0]
    assert "Shards" not in plain
    first = client.describe_clusters(MaxResults=1)
    second = client.describe_clusters(MaxResults=1, NextToken=first["NextToken"])
    assert [c["Name"] for c in first["Clusters"] + second["Clusters"]] == [
        DEFAULT_CLUSTER,
        "two-by-two",
    ]
    assert "NextToken" not in second
    with pytest.raises(ClientError) as missing:
        client.describe_clusters(ClusterName="nope")
    assert _error_code(missing) == "ClusterNotFoundFault"


def test_open_access_holds_default_and_lets_it_in_without_a_password(box: Sandbox) -> None:
    box.memorydb_client.create_cluster(
        ClusterName="open", NodeType="db.t4g.small", ACLName="open-access", NumReplicasPerShard=0
    )
    (node,) = box.cluster("open").nodes
    acl = box.memorydb_client.describe_acls(ACLName="open-access")["ACLs"][0]

    assert (acl["UserNames"], acl["Clusters"]) == (["default"], ["open"])
    assert node.accepts("default", "anything-at-all")
    assert not box.cluster().nodes[0].accepts("default", "anything-at-all")


def test_a_sandbox_cluster_is_a_redis_cluster_as_described(box: Sandbox, engine: str) -> None:
    """CLUSTER SHARDS on every node and DescribeClusters tell the same story: every shard, its
    slot range, each node's name-based endpoint, all online; a cluster client then reaches
    keys on every shard by following MOVED, verifying every node's certificate by name."""
    password = box.create_user("u")
    handle = box.create_cluster("three", shards=3, replicas_per_shard=1)
    (described,) = box.memorydb_client.describe_clusters(
        ClusterName="three", ShowShardDetails=True
    )["Clusters"]
    expected = sorted(
        (
            tuple(int(n) for n in shard["Slots"].split("-")),
            sorted((NODE_HOST, node["Endpoint"]["Port"]) for node in shard["Nodes"]),
        )
        for shard in described["Shards"]
    )
    covered = sorted(slots for slots, _ in expected)
    assert covered[0][0] == 0
    assert covered[-1][1] == 16383
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(covered))

    for node in handle.nodes:
        shards = shards_of(node.server)
        seen = sorted(
            (
                tuple(shard["slots"]),
                sorted((n["endpoint"], int(n["tls-port"])) for n in shard["nodes"]),
            )
            for shard in shards
        )
        assert seen == expected, node.name
        assert {n["health"] for shard in shards for n in shard["nodes"]} == {"online"}
        assert {n["hostname"] for shard in shards for n in shard["nodes"]} == {NODE_HOST}
        roles = [n["role"] for shard in shards for n in shard["nodes"]]
        assert sorted(roles) == ["master"] * 3 + ["replica"] * 3
    info = handle.nodes[0].server.admin.info("server")
    # redis-server says redis_mode; valkey-server 8 says server_mode.
    assert info.get("redis_mode", info.get("server_mode")) == "cluster"

    handle.wait_serving()
    (described,) = box.memorydb_client.describe_clusters(ClusterName="three")["Clusters"]
    assert described["Status"] == "available"
    assert box.tls_files is not None
    host, port = handle.endpoint
    client = redis.RedisCluster(
        host=host,
        port=port,
        username="u",
        password=password,
        ssl=True,
        ssl_ca_certs=str(box.tls_files.ca_cert),
        ssl_check_hostname=True,
    )
    try:
        keys = [f"key-{n}" for n in range(60)]
        for key in keys:
            client.set(key, key)
        owners = {client.keyslot(key) // (16384 // 3 + 1) for key in keys}  # type: ignore[no-untyped-call]
        assert owners == {0, 1, 2}
        assert [client.get(key) for key in keys] == [key.encode() for key in keys]
        primaries = {(n.host, n.port) for n in client.get_primaries()}  # type: ignore[no-untyped-call]
        assert primaries == {shard[0].endpoint for shard in handle.shards}
    finally:
        client.close()


def test_a_restarted_node_rejoins_its_cluster(box: Sandbox) -> None:
    password = box.create_user("u")
    handle = box.create_cluster("c", shards=2, replicas_per_shard=1)
    for node in (handle.shards[0][1], handle.shards[1][0]):
        node.stop()
        node.start()
        assert node.accepts("u", password)
    handle.wait_serving()
    for node in handle.nodes:
        shards = shards_of(node.server)
        assert len(shards) == 2
        assert sorted(len(shard["nodes"]) for shard in shards) == [2, 2]


def test_three_shards_of_two_start_and_stop_cleanly(engine: str) -> None:
    sandbox = Sandbox(engine=engine)
    with sandbox:
        handle = sandbox.create_cluster("big", shards=3, replicas_per_shard=1)
        servers = [n.server for c in (sandbox.cluster(), handle) for n in c.nodes]
        pids = [server.pid for server in servers]
        directories = [server.directory for server in servers]
        assert sandbox.tls_files is not None
        tls_directory = sandbox.tls_files.ca_cert.parent
        assert handle.state is not None
        state = Path(handle.state.name)
        assert len(list(state.glob("nodes-*.conf"))) == 6
        assert len(set(pids)) == 7
        assert all(_alive(pid) for pid in pids)
        assert all(d is not None and d.exists() for d in directories)

    assert not any(_alive(pid) for pid in pids)
    assert not any(d is not None and d.exists() for d in directories)
    assert not tls_directory.exists()
    assert not state.exists()


def _alive(pid: int | None) -> bool:
    """A live process (the servers are our children: a stopped one has been reaped)."""
    return pid is not None and Path(f"/proc/{pid}").exists()


# -- propagation ---------------------------------------------------------------------------------


def test_user_in_no_acl_is_on_no_node_until_it_joins_one(box: Sandbox) -> None:
    box.create_cluster("other", shards=1, replicas_per_shard=1)
    password = box.create_user("loner", acl=None)

    assert box.accepts_everywhere("loner", password) == {
        f"{DEFAULT_CLUSTER}-0001-001": False,
        "other-0001-001": False,
        "other-0001-002": False,
    }
    box.add_to_acl(DEFAULT_ACL, "loner")
    assert set(box.accepts_everywhere("loner", password).values()) == {True}


def test_only_the_clusters_of_the_users_acls_get_it(box: Sandbox) -> None:
    box.create_acl("elsewhere")
    box.create_cluster("theirs", acl="elsewhere")
    password = box.create_user("mine")

    assert box.accepts_everywhere("mine", password) == {
        f"{DEFAULT_CLUSTER}-0001-001": True,
        "theirs-0001-001": False,
    }
    box.memorydb_client.update_acl(ACLName=DEFAULT_ACL, UserNamesToRemove=["mine"])
    assert set(box.accepts_everywhere("mine", password).values()) == {False}


def test_a_set_reaches_nodes_one_by_one_after_the_user_is_active(
    timed_box: Sandbox, clock: FakeClock
) -> None:
    box = timed_box
    box.create_cluster("c", shards=1, replicas_per_shard=2)
    old = box.create_user("u")
    clock.advance(10)
    box.topology.deliver_due()
    new = new_password()
    names = [f"{DEFAULT_CLUSTER}-0001-001", "c-0001-001", "c-0001-002", "c-0001-003"]

    _set_passwords(box, "u", old, new)
    assert _status(box, "u") == "modifying"
    assert box.accepts_everywhere("u", new) == dict.fromkeys(names, False)

    clock.advance(1.0)
    assert _status(box, "u") == "active"
    for reached in range(1, len(names) + 1):
        box.topology.deliver_due()
        assert box.accepts_everywhere("u", new) == {
            name: i < reached for i, name in enumerate(names)
        }
        assert set(box.accepts_everywhere("u", old).values()) == {True}
        clock.advance(0.5)


def test_a_lagging_node_gets_the_set_after_the_others(engine: str, clock: FakeClock) -> None:
    with Sandbox(engine=engine, propagation_delay=1.0, clock=clock) as box:
        handle = box.create_cluster("c", shards=1, replicas_per_shard=1)
        old = box.create_user("u")
        box.lag_node("c-0001-002", 30.0)
        new = new_password()

        _set_passwords(box, "u", new)
        clock.advance(1.0)
        assert _status(box, "u") == "active"
        box.topology.deliver_due()
        assert box.accepts_everywhere("u", new) == {
            f"{DEFAULT_CLUSTER}-0001-001": True,
            "c-0001-001": True,
            "c-0001-002": False,
        }
        assert handle.nodes[1].accepts("u", old)

        clock.advance(30.0)
        box.topology.deliver_due()
        assert set(box.accepts_everywhere("u", new).values()) == {True}
        assert not handle.nodes[1].accepts("u", old)


def test_a_stopped_node_catches_up_when_it_starts(box: Sandbox) -> None:
    handle = box.create_cluster("c", shards=1, replicas_per_shard=1)
    first = box.create_user("u")
    other = box.create_user("v")
    replica = handle.nodes[1]
    replica.stop()
    new = new_password()

    _set_passwords(box, "u", new)
    box.settle()
    assert box.accepts_everywhere("u", new) == {
        f"{DEFAULT_CLUSTER}-0001-001": True,
        "c-0001-001": True,
        "c-0001-002": False,
    }
    assert not replica.accepts("u", first)  # down: accepts nothing

    replica.start()
    assert replica.accepts("u", new)
    assert not replica.accepts("u", first)
    assert replica.accepts("v", other)  # a restart loses the ACL; every user is replayed


# -- TLS -----------------------------------------------------------------------------------------


def _handshake(tls: TlsFiles, *, trust: Path) -> None:
    """A verified TLS handshake with a server using `tls`, as `localhost`."""
    with RedisServer(tls=tls) as server:
        context = ssl.create_default_context(cafile=str(trust))
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost"),
        ):
            pass


def test_the_sandbox_certificate_verifies_for_localhost(box: Sandbox) -> None:
    assert box.tls_files is not None

    _handshake(box.tls_files, trust=box.tls_files.ca_cert)


def test_a_certificate_for_another_name_fails_host_name_verification(box: Sandbox) -> None:
    assert box.tls_files is not None
    wrong_name = box.other_name_tls_files()
    assert wrong_name.ca_cert == box.tls_files.ca_cert

    with pytest.raises(ssl.SSLCertVerificationError) as raised:
        _handshake(wrong_name, trust=box.tls_files.ca_cert)
    assert "Hostname mismatch" in str(raised.value.verify_message)


def test_a_certificate_from_an_independent_ca_is_not_trusted_by_the_bundle(box: Sandbox) -> None:
    assert box.tls_files is not None
    foreign = box.independent_tls_files()
    _handshake(foreign, trust=foreign.ca_cert)  # valid in itself, for localhost

    with pytest.raises(ssl.SSLCertVerificationError) as raised:
        _handshake(foreign, trust=box.tls_files.ca_cert)
    # 19: the server's chain ends in a root the bundle lacks; 20: no issuer in the bundle.
    assert raised.value.verify_code in (19, 20), raised.value.verify_message


def test_an_advertised_proxy_is_the_endpoint_memorydb_reports(box: Sandbox) -> None:
    """A fault proxy in front of a node becomes an endpoint the function discovers, and TLS
    through it still verifies `localhost`."""
    password = box.create_user("u")
    (node,) = box.cluster().nodes
    with TcpFaultProxy(node.host, node.port) as proxy:
        box.advertise_node(node.name, ("localhost", proxy.port))
        (cluster,) = box.memorydb_client.describe_clusters(ShowShardDetails=True)["Clusters"]
        reported = cluster["Shards"][0]["Nodes"][0]["Endpoint"]
        document = box.secret_document("u", password)
        assert box.tls_files is not None
        through = redis.Redis(
            host="localhost",
            port=proxy.port,
            username="u",
            password=password,
            ssl=True,
            ssl_ca_certs=str(box.tls_files.ca_cert),
            ssl_check_hostname=True,
            protocol=2,
        )
        try:
            assert through.ping()
        finally:
            through.close()
        connections = proxy.connections

    assert cluster["ClusterEndpoint"] == {"Address": "localhost", "Port": proxy.port}
    assert reported == {"Address": "localhost", "Port": proxy.port}
    assert (document["host"], document["port"]) == ("localhost", proxy.port)
    assert connections == 1
    box.advertise_node(node.name, None)
    assert box.cluster().endpoint == (NODE_HOST, node.port)


def test_changing_a_clusters_acl_changes_who_is_on_its_nodes(box: Sandbox) -> None:
    mine = box.create_user("mine")
    box.create_acl("theirs-acl")
    theirs = box.create_user("theirs", acl="theirs-acl")
    handle = box.create_cluster("c")
    (node,) = handle.nodes
    client = box.memorydb_client
    assert (node.accepts("mine", mine), node.accepts("theirs", theirs)) == (True, False)

    client.update_cluster(ClusterName="c", ACLName="theirs-acl")

    assert (node.accepts("mine", mine), node.accepts("theirs", theirs)) == (False, True)
    assert client.describe_clusters(ClusterName="c")["Clusters"][0]["ACLName"] == "theirs-acl"
    assert client.describe_acls(ACLName="theirs-acl")["ACLs"][0]["Clusters"] == ["c"]
    with pytest.raises(ClientError) as resize:
        client.update_cluster(ClusterName="c", ReplicaConfiguration={"ReplicaCount": 2})
    assert _error_code(resize) == "InvalidParameterValueException"

    client.delete_cluster(ClusterName="c")
    assert not node.running
    assert list(box.accepts_everywhere("mine", mine)) == [f"{DEFAULT_CLUSTER}-0001-001"]
