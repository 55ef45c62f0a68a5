"""Passwords proven on every node MemoryDB names, and sent nowhere else (real TLS servers)."""

from __future__ import annotations

import json
from typing import Any

from rotation.handler import lambda_handler
from sandbox import Sandbox
from sandbox.redis_server import RedisServer
from tests.integration.test_verifier import CountingListener

USER = "app-user"


def _secret(sandbox: Sandbox, **extra: Any) -> tuple[str, str]:
    password = sandbox.create_user(USER)
    return sandbox.create_secret(USER, password, **extra), password


def _error(outcome: object) -> str:
    last = getattr(outcome, "last_error", None)
    return f"{last.error_type}: {last.error}" if last is not None else ""


def test_a_user_in_two_acls_on_two_clusters_is_proven_on_both(sandbox: Sandbox) -> None:
    arn, first = _secret(sandbox)
    sandbox.create_acl("second-acl", users=[USER])
    second = sandbox.create_cluster("second", shards=2, replicas_per_shard=1, acl="second-acl")

    outcome = sandbox.driver(lambda_handler).rotate(arn)

    assert outcome.succeeded, outcome.last_error
    new = sandbox.view(arn).password("AWSCURRENT") or ""
    sandbox.settle()
    accepted = sandbox.accepts_everywhere(USER, new)
    assert len(accepted) == 1 + 4
    assert all(accepted.values()), accepted
    assert not any(node.accepts(USER, first) for node in second.nodes)


def test_a_lagging_replica_is_waited_for_then_proven(sandbox: Sandbox) -> None:
    arn, _ = _secret(sandbox)
    cluster = sandbox.create_cluster("big", shards=3, replicas_per_shard=1)
    sandbox.lag_node(cluster.nodes[-1].name, 0.6)

    outcome = sandbox.driver(lambda_handler).rotate(arn)

    assert outcome.succeeded, outcome.last_error
    sandbox.settle()
    new = sandbox.view(arn).password("AWSCURRENT") or ""
    assert all(sandbox.accepts_everywhere(USER, new).values())


def test_a_lagging_replica_is_never_promoted_past(sandbox: Sandbox) -> None:
    arn, first = _secret(sandbox)
    cluster = sandbox.create_cluster("big", shards=3, replicas_per_shard=1)
    laggard = cluster.nodes[-1]
    sandbox.lag_node(laggard.name, 60)
    sandbox.configure_function(WAIT_TIMEOUT_SECONDS="1")

    outcome = sandbox.driver(lambda_handler, step_attempts=1).rotate(arn)

    assert not outcome.succeeded
    assert outcome.failed_step == "testSecret"
    assert f"refused on big/{laggard.name}" in _error(outcome)
    view = sandbox.view(arn)
    assert view.password("AWSCURRENT") == first
    assert all(sandbox.accepts_everywhere(USER, first).values())


def test_a_down_node_stops_the_rotation_before_finish(sandbox: Sandbox) -> None:
    arn, first = _secret(sandbox)
    cluster = sandbox.create_cluster("big", shards=2, replicas_per_shard=1)
    sandbox.configure_function(WAIT_TIMEOUT_SECONDS="1")
    down = cluster.nodes[1]
    down.stop()
    try:
        outcome = sandbox.driver(lambda_handler, step_attempts=1).rotate(arn)
    finally:
        down.start()

    assert not outcome.succeeded
    assert outcome.failed_step == "createSecret"  # AWSCURRENT is proven on every node first
    assert "ClusterUnreachableError" in _error(outcome)
    assert f"big/{down.name} (connection refused)" in _error(outcome)
    assert sandbox.view(arn).password("AWSCURRENT") == first
    assert sandbox.calls().count("UpdateUser") == 0
    sandbox.settle()
    assert all(sandbox.accepts_everywhere(USER, first).values())


def test_a_host_outside_the_users_clusters_receives_no_connection(sandbox: Sandbox) -> None:
    listener = CountingListener()
    try:
        arn, first = _secret(sandbox, host="localhost", port=listener.port)
        outcome = sandbox.driver(lambda_handler, step_attempts=1).rotate(arn)
    finally:
        listener.close()

    assert not outcome.succeeded
    assert "EndpointRefusedError" in _error(outcome)
    assert str(listener.port) not in _error(outcome)
    assert listener.connections == 0
    assert sandbox.view(arn).password("AWSCURRENT") == first


def test_a_trusted_server_that_accepts_any_password_never_receives_one(sandbox: Sandbox) -> None:
    """The attacker's case: write-only access to the secret, a server of their own with a
    certificate the function trusts, which answers OK to every AUTH."""
    tls = sandbox.tls_files
    assert tls is not None
    attacker_password = "Attacker-chosen-password-012345"
    with RedisServer(tls=tls) as attacker:
        attacker.apply_user(USER, "on ~* +@all", [], nopass=True)
        attacker.admin.config_resetstat()
        victim = sandbox.create_user(USER)
        document = sandbox.secret_document(
            USER, attacker_password, host=attacker.host, port=attacker.port
        )
        arn = sandbox.create_secret(USER, attacker_password, document=document)

        outcome = sandbox.driver(lambda_handler).rotate(arn)

        stats = attacker.admin.info("commandstats")
    assert not outcome.succeeded
    assert "EndpointRefusedError" in _error(outcome)
    assert "cmdstat_auth" not in stats
    assert attacker_password not in sandbox.control_plane_passwords(USER)
    assert sandbox.control_plane_passwords(USER) == [victim]
    assert sandbox.calls().count("UpdateUser") == 0


def test_a_user_in_no_acl_is_refused_before_any_write(sandbox: Sandbox) -> None:
    password = sandbox.create_user(USER, acl=None)
    arn = sandbox.create_secret(USER, password)

    outcome = sandbox.driver(lambda_handler, step_attempts=1).rotate(arn)

    assert not outcome.succeeded
    assert outcome.failed_step == "createSecret"
    assert "NoClusterError" in _error(outcome)
    assert sandbox.view(arn).version_with("AWSPENDING") in (None, outcome.token)
    assert sandbox.view(arn).password("AWSPENDING") is None


def test_the_secret_may_leave_out_the_host(sandbox: Sandbox) -> None:
    password = sandbox.create_user(USER)
    document = sandbox.secret_document(USER, password)
    for key in ("host", "port", "ssl"):
        document.pop(key)
    arn = sandbox.create_secret(USER, password, secret_string=json.dumps(document))

    outcome = sandbox.driver(lambda_handler).rotate(arn)

    assert outcome.succeeded, outcome.last_error
    assert "host" not in sandbox.view(arn).values[outcome.token]
