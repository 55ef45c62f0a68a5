"""The harness itself can fail: each checker, injector and scanner catches what it is for."""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import Callable

import boto3
import pytest
import redis
from botocore.exceptions import ClientError
from redis.backoff import NoBackoff
from redis.retry import Retry

from rotation.adapters.aws import API_ATTEMPTS, boto_config
from sandbox import Sandbox
from sandbox.sandbox import REGION, new_password
from tests.reliability.campaign.faults import AwsFaultInjector, Fault
from tests.reliability.campaign.invariants import InvariantChecker, Oracle
from tests.reliability.campaign.leaks import LeakScanner
from tests.reliability.campaign.proxy import TcpFaultProxy


def _checker(sandbox: Sandbox, user: str = "inv-user") -> tuple[InvariantChecker, str, str]:
    password = sandbox.create_user(user)
    arn = sandbox.create_secret(user, password)
    checker = InvariantChecker(
        lambda: sandbox.view(arn), sandbox, Oracle(sandbox.redis), user
    ).start()
    return checker, arn, password


def test_the_checker_passes_a_healthy_secret(sandbox: Sandbox) -> None:
    checker, _arn, _password = _checker(sandbox)
    checker.check("now")
    assert checker.violations == []


def test_the_checker_sees_a_dead_awscurrent(sandbox: Sandbox) -> None:
    checker, _arn, _password = _checker(sandbox)
    sandbox.memorydb_client.update_user(
        UserName="inv-user",
        AuthenticationMode={"Type": "password", "Passwords": [new_password()]},
    )
    sandbox.settle()
    checker.check("after the outside change")
    assert any("invariant 1" in v for v in checker.violations)


def test_the_checker_sees_an_unproven_promotion_and_a_stale_pending(sandbox: Sandbox) -> None:
    checker, arn, password = _checker(sandbox)
    token = str(uuid.uuid4())
    sandbox.stage_pending(arn, token)
    sandbox.sm_client.put_secret_value(
        SecretId=arn,
        ClientRequestToken=token,
        SecretString=json.dumps(sandbox.secret_document("inv-user", password)),
        VersionStages=["AWSPENDING"],
    )
    old = str(sandbox.view(arn).version_with("AWSCURRENT"))
    sandbox.sm_client.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=old
    )
    checker.check("after promoting without testSecret")
    assert any("invariant 3" in v for v in checker.violations)
    second = str(uuid.uuid4())
    sandbox.stage_pending(arn, second)
    checker.check_end()
    assert any("invariant 4" in v for v in checker.violations)


def test_a_blip_is_absorbed_by_the_deployed_retry_config(sandbox: Sandbox) -> None:
    client = boto3.client("secretsmanager", region_name=REGION, config=boto_config())
    injector = AwsFaultInjector()
    with injector.installed(), injector.armed(Fault(0, "before", "throttle")):
        client.list_secrets()
    assert [r.faulted for r in injector.records] == ["before throttle", None]
    assert len(injector.backoff_requested) == 1


def test_an_outage_outlasts_the_retries_and_an_after_fault_lands(sandbox: Sandbox) -> None:
    client = boto3.client("secretsmanager", region_name=REGION, config=boto_config())
    injector = AwsFaultInjector()
    with (
        injector.installed(),
        injector.armed(Fault(0, "after", "5xx", outage=True)),
        pytest.raises(ClientError, match="ServiceUnavailable"),
    ):
        client.create_secret(Name="landed", SecretString="{}")
    # `total_max_attempts` counts the first attempt too.
    assert len(injector.records) == API_ATTEMPTS
    # The first attempt landed although its caller saw only errors.
    assert sandbox.sm_client.describe_secret(SecretId="landed")["Name"] == "landed"


@pytest.mark.parametrize("fault", ["refuse", "reset_mid_auth"])
def test_the_proxy_breaks_exactly_the_planned_connection(sandbox: Sandbox, fault: str) -> None:
    password = sandbox.create_user("proxied")
    with TcpFaultProxy(sandbox.redis.host, sandbox.redis.port) as proxy:
        proxy.plan((1, fault))  # type: ignore[arg-type]

        def auth() -> bool:
            assert sandbox.tls_files is not None
            client = redis.Redis(
                host="localhost",  # the name on the node's certificate; TLS passes the proxy
                port=proxy.port,
                ssl=True,
                ssl_ca_certs=str(sandbox.tls_files.ca_cert),
                username="proxied",
                password=password,
                protocol=2,
                socket_timeout=2,
                retry=Retry(NoBackoff(), 0),
                single_connection_client=True,
            )
            try:
                return bool(client.ping())
            finally:
                client.close()

        assert auth()
        with pytest.raises((redis.ConnectionError, ConnectionError, socket.error)):
            auth()
        assert auth()
        assert proxy.faulted == [f"#1 {fault}"]


def test_the_scanner_finds_a_secret_in_every_channel() -> None:
    secret = new_password()
    leaks: list[tuple[str, Callable[[], None]]] = [
        ("stdout/stderr", lambda: print(f"oops {secret}")),
        ("log records", lambda: logging.getLogger("some.library").warning("pw=%s", secret)),
    ]
    for channel, leak in leaks:
        scanner = LeakScanner(debug=True)
        with scanner.capturing():
            leak()
        assert any(channel in found for found in scanner.scan({secret})), channel
    scanner = LeakScanner()
    scanner.exception(RuntimeError(f"bad {secret[:16]}"))
    assert scanner.scan({secret}) == ["exceptions: a secret of length 32 appears"]
    assert LeakScanner().scan({secret}) == []
