"""The sandbox's public surface does what the API would show, and callers use only it."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest

from sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
USER = "app-user"


def test_hand_edits_show_through_the_api_and_are_not_counted(sandbox: Sandbox) -> None:
    password = sandbox.create_user(USER)
    arn = sandbox.create_secret(USER, password)
    token, other = str(uuid.uuid4()), str(uuid.uuid4())
    sandbox.clear_calls()

    sandbox.stage_pending(arn, token)
    sandbox.set_version_stages(arn, token, ["AWSPREVIOUS"])
    sandbox.put_version(arn, other, b"\x00\xff", ["EXTRA"])
    assert sandbox.calls() == []

    stages = sandbox.sm_client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert stages[token] == ["AWSPREVIOUS"]
    binary = sandbox.sm_client.get_secret_value(SecretId=arn, VersionId=other)["SecretBinary"]
    assert binary == b"\x00\xff"
    assert sandbox.calls() == ["DescribeSecret", "GetSecretValue"]

    sandbox.delete_version(arn, other)
    assert other not in sandbox.sm_client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    sandbox.disable_rotation(arn)
    assert not sandbox.sm_client.describe_secret(SecretId=arn)["RotationEnabled"]


def test_hold_end_hold_and_propagation_delay(sandbox: Sandbox) -> None:
    password = sandbox.create_user(USER)
    sandbox.hold_modifying(USER, 60.0)
    assert sandbox.user_status(USER) == "modifying"
    sandbox.end_hold(USER)
    sandbox.settle()
    assert sandbox.user_status(USER) == "active"

    second = "Second-password-0123456789"
    sandbox.set_propagation_delay(60.0)
    sandbox.memorydb_client.update_user(
        UserName=USER, AuthenticationMode={"Type": "password", "Passwords": [password, second]}
    )
    assert sandbox.password_count(USER) == 2
    assert not sandbox.authenticates(USER, second)  # still propagating
    with pytest.raises(sandbox.memorydb_client.exceptions.ClientError, match="InvalidUserState"):
        sandbox.memorydb_client.update_user(
            UserName=USER, AuthenticationMode={"Type": "password", "Passwords": [second]}
        )
    assert sandbox.most_passwords_held(USER) == 2


def test_propagation_clock_applies_inside_the_block_only(sandbox: Sandbox) -> None:
    password = sandbox.create_user(USER)
    now = {"t": 0.0}
    with sandbox.propagation_clock(lambda: now["t"]):
        sandbox.memorydb_client.update_user(
            UserName=USER, AuthenticationMode={"Type": "password", "Passwords": [password]}
        )
        assert sandbox.user_status(USER) == "modifying"
        now["t"] = 1.0  # past the 0.05 s delay on this clock
        sandbox.memorydb_client.describe_users(UserName=USER)
        assert sandbox.user_status(USER) == "active"
    assert sandbox.authenticates(USER, password)


def _reaches_into_the_machinery(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and (
            node.attr == "sm_backend"
            or (isinstance(node.value, ast.Attribute) and node.value.attr in MACHINERY)
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        if isinstance(node, ast.ImportFrom) and node.module in MOTO_BACKENDS:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


MACHINERY = ("memorydb", "secretsmanager")
MOTO_BACKENDS = ("moto.secretsmanager.models", "moto.memorydb.models")


def test_callers_use_the_surface_not_the_machinery() -> None:
    callers = [*ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/**/*.py"), *ROOT.glob("demo/*.py")]
    assert len(callers) > 20
    found = [hit for path in callers for hit in _reaches_into_the_machinery(path)]
    assert found == []
