"""One connection per node per invocation, on real TLS redis-servers: AUTH re-sent on it
re-checks the node's current ACL, a dropped connection is reconnected once, and every connection
closes when the session ends. Handshakes are counted by the server (INFO stats)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from rotation import errors
from rotation.adapters import redis_verifier
from rotation.adapters.redis_verifier import RedisVerifier
from rotation.handler import lambda_handler
from rotation.models import Endpoint
from sandbox import Sandbox
from sandbox.redis_server import RedisServer
from sandbox.tls import TestAuthority

PW1 = "First-password-0123456789abcdef"
PW2 = "Second-password-0123456789abcdef"
USER = "app-user"


@pytest.fixture
def authority(tmp_path: Path) -> TestAuthority:
    return TestAuthority(tmp_path / "ca")


@pytest.fixture
def server(authority: TestAuthority) -> Iterator[RedisServer]:
    with RedisServer(tls=authority.issue()) as started:
        started.apply_user(USER, "on ~* +@all", [PW1])
        yield started


def _accepted(server: RedisServer) -> int:
    return int(server.admin.info("stats")["total_connections_received"])


def _open_clients(server: RedisServer) -> int:
    """Client connections other than the admin's own and a replica's link to its primary (which
    a replica lists as a client; a primary does not count its replicas). INFO only: a command
    here would show in the commandstats other tests read."""
    clients = int(server.admin.info("clients")["connected_clients"])
    link = 1 if server.admin.info("replication")["role"] == "slave" else 0
    return clients - 1 - link


def _verifier(authority: TestAuthority) -> RedisVerifier:
    return RedisVerifier(ca_bundle=authority.ca_cert, timeout_seconds=2)


def _endpoint(server: RedisServer) -> Endpoint:
    return Endpoint(server.host, server.port, tls=True)


def test_a_session_sends_every_auth_on_one_connection(
    authority: TestAuthority, server: RedisServer
) -> None:
    verifier = _verifier(authority)
    server.admin.config_resetstat()
    before = _accepted(server)
    with verifier.session():
        answers = [
            verifier.authenticates(_endpoint(server), USER, SecretStr(pw)) for pw in (PW1, PW2, PW1)
        ]
        assert _open_clients(server) == 1
    assert answers == [True, False, True]
    assert _accepted(server) - before == 1
    assert _open_clients(server) == 0
    stats = server.admin.info("commandstats")
    assert {name.removeprefix("cmdstat_") for name in stats} - {"info", "config|resetstat"} == {
        "auth"
    }
    assert stats["cmdstat_auth"]["calls"] == 3


def test_without_a_session_each_auth_has_its_own_connection(
    authority: TestAuthority, server: RedisServer
) -> None:
    verifier = _verifier(authority)
    before = _accepted(server)
    for _ in range(3):
        assert verifier.authenticates(_endpoint(server), USER, SecretStr(PW1))
    assert _accepted(server) - before == 3
    assert _open_clients(server) == 0


def test_a_session_keeps_no_more_connections_than_lambda_allows(
    authority: TestAuthority, server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_verifier, "MAX_KEPT_CONNECTIONS", 0)
    verifier = _verifier(authority)
    before = _accepted(server)
    with verifier.session():
        for _ in range(2):
            assert verifier.authenticates(_endpoint(server), USER, SecretStr(PW1))
    assert _accepted(server) - before == 2


def test_a_resent_auth_checks_the_password_set_as_it_is_now(
    authority: TestAuthority, server: RedisServer
) -> None:
    verifier = _verifier(authority)
    with verifier.session():
        assert not verifier.authenticates(_endpoint(server), USER, SecretStr(PW2))
        server.apply_user(USER, "on ~* +@all", [PW1, PW2])  # the node catches up
        assert verifier.authenticates(_endpoint(server), USER, SecretStr(PW2))
        server.apply_user(USER, "on ~* +@all", [PW2])  # the old password dropped
        assert not verifier.authenticates(_endpoint(server), USER, SecretStr(PW1))
        assert _open_clients(server) == 1


def test_a_connection_dropped_between_two_auths_is_reconnected_once(
    authority: TestAuthority, server: RedisServer
) -> None:
    verifier = _verifier(authority)
    before = _accepted(server)
    with verifier.session():
        assert verifier.authenticates(_endpoint(server), USER, SecretStr(PW1))
        server.admin.client_kill_filter(_type="normal", skipme=True)
        assert verifier.authenticates(_endpoint(server), USER, SecretStr(PW1))
    assert _accepted(server) - before == 2


def test_a_node_gone_between_two_auths_is_unreachable_after_one_reconnect(
    authority: TestAuthority, server: RedisServer
) -> None:
    verifier = _verifier(authority)
    with verifier.session():
        assert verifier.authenticates(_endpoint(server), USER, SecretStr(PW1))
        server.stop()
        with pytest.raises(errors.ClusterUnreachableError) as raised:
            verifier.authenticates(_endpoint(server), USER, SecretStr(PW1))
    assert raised.value.reason == "connection refused"
    assert PW1 not in str(raised.value)
    assert raised.value.__context__ is None
    assert raised.value.__cause__ is None


def test_a_rotation_opens_at_most_four_connections_per_node(sandbox: Sandbox) -> None:
    password = sandbox.create_user(USER)
    arn = sandbox.create_secret(USER, password)
    cluster = sandbox.create_cluster("big", shards=2, replicas_per_shard=1)
    sandbox.settle()
    servers = [node.server for node in cluster.nodes]
    before = [_accepted(s) for s in servers]

    outcome = sandbox.driver(lambda_handler).rotate(arn)

    assert outcome.succeeded, outcome.last_error
    assert len(outcome.attempts) == 4  # one invocation per step: no retry hides a connection
    opened = [_accepted(s) - b for s, b in zip(servers, before, strict=True)]
    assert opened == [4] * len(servers), opened
    assert [_open_clients(s) for s in servers] == [0] * len(servers)
