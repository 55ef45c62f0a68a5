"""`history` on the served sandbox: the function's own log lines, grouped into rotations, newest
first, with the failed step, error and reason of a rotation that failed."""

from __future__ import annotations

import pytest

from sandbox.sandbox import new_password
from sandbox.server import ServedSandbox
from tests.cli.conftest import Cli, Seeded

pytestmark = pytest.mark.integration


def test_history_lists_a_success_and_then_a_failure(
    cli: Cli, served: ServedSandbox, seeded: Seeded
) -> None:
    code, empty = cli.json("history", seeded.arn)
    assert (code, empty["rotations"]) == (0, [])
    assert "no rotation logged" in empty["verdict"]["message"]

    code, first = cli.json("rotate", seeded.arn, "--follow", "--timeout", "60")
    assert (code, first["result"]) == (0, "succeeded")
    # Someone changes the password outside the service: the next createSecret refuses.
    served.sandbox.memorydb_client.update_user(
        UserName=seeded.user,
        AuthenticationMode={"Type": "password", "Passwords": [new_password()]},
    )
    served.sandbox.settle()
    code, second = cli.json("rotate", seeded.arn, "--follow", "--timeout", "60")
    assert (code, second["result"]) == (1, "failed")

    code, doc = cli.json("history", seeded.arn)
    assert code == 0
    latest, earlier = doc["rotations"]
    assert (latest["token"], earlier["token"]) == (second["token"], first["token"])
    assert (earlier["outcome"], earlier["failures"]) == ("succeeded", 0)
    assert [s["step"] for s in earlier["steps"]] == [
        "createSecret",
        "setSecret",
        "testSecret",
        "finishSecret",
    ]
    assert (latest["outcome"], latest["failed_step"]) == ("failed", "createSecret")
    assert latest["error"] == "CurrentPasswordRejectedError"
    assert latest["failures"] == served.step_attempts
    assert latest["started"] <= latest["ended"]
    assert earlier["ended"] <= latest["started"]
    assert "the latest rotation failed at createSecret" in doc["verdict"]["message"]

    text = cli("history", seeded.arn).stdout
    assert "outcome=failed" in text
    assert "failed step=createSecret" in text
    assert "verdict: listed:" in text


def test_history_of_a_secret_without_rotation_says_so(cli: Cli, served: ServedSandbox) -> None:
    password = served.sandbox.create_user("history-no-rotation")
    arn = served.sandbox.create_secret("history-no-rotation", password, rotation=False)
    result = cli("history", arn)
    assert result.exit_code == 2
    assert "has no rotation function" in result.stderr
