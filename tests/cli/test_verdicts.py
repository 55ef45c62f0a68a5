"""The verdicts that tell failures apart, each on the served sandbox with real nodes: a check
that could not look never passes, unreachable is not rejected, a failed rotation is read from
the function's log, an overdue drop and a long 'modifying' are problems."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from sandbox.sandbox import new_password
from sandbox.server import ServedSandbox
from tests.cli.conftest import Cli, Seeded, seed

pytestmark = pytest.mark.integration


def _set_passwords(served: ServedSandbox, user: str, passwords: list[str]) -> None:
    served.sandbox.memorydb_client.update_user(
        UserName=user, AuthenticationMode={"Type": "password", "Passwords": passwords}
    )
    served.sandbox.passwords_seen.update(passwords)
    served.sandbox.settle()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def one_node_unreachable(served: ServedSandbox) -> Iterator[str]:
    node = served.sandbox.cluster().nodes[0].name
    served.sandbox.advertise_node(node, ("127.0.0.1", _closed_port()))
    yield node
    served.sandbox.advertise_node(node, None)


def test_a_policy_that_cannot_be_read_never_passes(cli: Cli, served: ServedSandbox) -> None:
    served.deploy_function("keeps-then-gone", environment={"OLD_PASSWORD_POLICY": "keep"})
    seeded = seed(served, function="keeps-then-gone")
    old = new_password()
    _set_passwords(served, seeded.user, [seeded.password, old])
    served.client("lambda").delete_function(FunctionName="keeps-then-gone")

    code, status = cli.json("status", seeded.arn)
    assert (code, status["verdict"]["code"]) == (2, "cannot-check")
    assert "OLD_PASSWORD_POLICY" in status["verdict"]["message"]
    assert "GetFunctionConfiguration" in status["verdict"]["message"]


def test_unreachable_is_not_rejected(
    cli: Cli, served: ServedSandbox, seeded: Seeded, one_node_unreachable: str
) -> None:
    code, status = cli.json(
        "status",
        seeded.arn,
        "--probe",
        "--ca-bundle",
        str(served.ca_bundle),
        "--connect-timeout",
        "2",
    )
    assert (code, status["verdict"]["code"]) == (2, "nodes-unreachable")
    assert one_node_unreachable in status["verdict"]["message"]
    advice = status["verdict"]["next"]
    assert "put-secret-value" not in advice
    assert "update-user" not in advice
    assert "change nothing" in advice
    (current,) = [p for p in status["probe"] if p["stage"] == "AWSCURRENT"]
    assert current["rejected"] == []


def test_a_rejected_password_is_rejected(cli: Cli, served: ServedSandbox, seeded: Seeded) -> None:
    _set_passwords(served, seeded.user, [new_password()])
    code, status = cli.json("status", seeded.arn, "--probe", "--ca-bundle", str(served.ca_bundle))
    assert (code, status["verdict"]["code"]) == (1, "current-rejected")
    assert "refused" in status["verdict"]["message"]


def test_a_failed_rotation_is_read_from_the_functions_log(cli: Cli, served: ServedSandbox) -> None:
    # The function trusts another CA than the nodes': every TLS handshake fails, a transient
    # failure (ClusterUnreachableError) that Secrets Manager's retries meet again.
    other_ca = served.sandbox.independent_tls_files().ca_cert
    served.deploy_function("wrong-ca", environment={"CA_BUNDLE_PATH": str(other_ca)})
    seeded = seed(served, function="wrong-ca")
    code, started = cli.json("rotate", seeded.arn)
    assert (code, started["result"]) == (0, "started")
    served.wait_idle()

    # Young (well inside --stale-after), and still not "in progress": the log says it failed.
    code, status = cli.json("status", seeded.arn)
    assert (code, status["verdict"]["code"]) == (1, "rotation-failed")
    assert status["last_step"]["failed"] is True
    assert status["last_step"]["step"] == "createSecret"
    assert status["last_step"]["error"] == "ClusterUnreachableError"
    assert "createSecret" in status["verdict"]["message"]
    assert "--resume" in status["verdict"]["next"]
    # The pending version's creation time is real (moto alone reports "now" for every version).
    assert status["pending"]["since"] is not None


def test_an_overdue_drop_is_a_problem(cli: Cli, served: ServedSandbox, seeded: Seeded) -> None:
    _set_passwords(served, seeded.user, [new_password(), seeded.password])
    scheduler = served.client("scheduler")
    name = "drop-old-password-overdue"
    request = {
        "Name": name,
        "ScheduleExpression": "at(2020-01-01T00:00:00)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {
            "Arn": seeded.function_arn,
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
            "Input": json.dumps({"action": "drop-old-password", "SecretId": seeded.arn}),
        },
    }
    scheduler.create_schedule(**request)
    try:
        code, status = cli.json("status", seeded.arn)
        assert (code, status["verdict"]["code"]) == (1, "drop-overdue")
        assert "2020-01-01T00:00:00Z" in status["verdict"]["message"]
        assert status["scheduled_drop"]["at"] == "2020-01-01T00:00:00Z"
        text = cli("status", seeded.arn).stdout
        assert "at at(" not in text

        scheduler.update_schedule(
            **{**request, "ScheduleExpression": "at(2099-01-01T00:00:00)", "State": "DISABLED"}
        )
        code, status = cli.json("status", seeded.arn)
        assert (code, status["verdict"]["code"]) == (1, "drop-schedule-disabled")
    finally:
        scheduler.delete_schedule(Name=name)


def test_a_long_modifying_has_an_age_and_a_threshold(
    cli: Cli, served: ServedSandbox, seeded: Seeded
) -> None:
    served.sandbox.hold_modifying(seeded.user, 600)
    try:
        code, status = cli.json("status", seeded.arn)
        assert (code, status["verdict"]["code"]) == (0, "user-modifying")
        assert "threshold 600 s" in status["verdict"]["message"]
        code, status = cli.json("status", seeded.arn, "--modifying-after", "0")
        assert (code, status["verdict"]["code"]) == (1, "user-stuck-modifying")
        assert "describe-clusters" in status["verdict"]["next"]
    finally:
        served.sandbox.end_hold(seeded.user)
