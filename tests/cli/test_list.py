"""`memorydb-rotation list`: every secret one deployment rotates, found by RotationLambdaARN."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from memorydb_rotation_cli import list_command
from memorydb_rotation_cli.render import Output
from tests.cli.conftest import Cli, Stubs, seed
from tests.cli.documents import checked

OTHER = "arn:aws:lambda:us-east-1:123456789012:function:another-deployment"


def test_list_shows_the_functions_secrets_and_their_states(cli: Cli) -> None:
    fleet = f"fleet-{uuid.uuid4().hex[:6]}"
    mine = [seed(cli.served, function=fleet) for _ in range(3)]
    elsewhere = seed(cli.served, function="another-deployment")
    cli.served.sandbox.stage_pending(mine[0].arn, str(uuid.uuid4()))

    code, doc = cli.json("list", mine[0].function_arn)

    assert code == 0
    assert doc["count"] == 3
    assert {row["arn"] for row in doc["secrets"]} == {s.arn for s in mine}
    assert elsewhere.arn not in {row["arn"] for row in doc["secrets"]}
    states = {row["arn"]: row["state"] for row in doc["secrets"]}
    assert states[mine[0].arn] == "rotating"
    assert {states[s.arn] for s in mine[1:]} == {"never rotated"}
    assert doc["states"] == {"rotating": 1, "never rotated": 2}

    text = cli("list", mine[0].function_arn)
    assert text.exit_code == 0
    for secret in mine:
        assert f"memorydb/{secret.user}" in text.stdout
    assert f"memorydb/{elsewhere.user}" not in text.stdout
    assert "3 secret(s): 2 never rotated, 1 rotating" in text.stdout


def test_a_function_that_rotates_nothing_says_so(cli: Cli) -> None:
    result = cli("list", OTHER.replace("another-deployment", "nothing-here"))

    assert result.exit_code == 0
    assert "no secret names" in result.stdout


def test_every_page_is_read_and_only_the_functions_secrets_kept(stubs: Stubs) -> None:
    function = "arn:aws:lambda:eu-west-1:123456789012:function:fleet"
    sm = stubs("secretsmanager")

    def entry(name: str, lambda_arn: str | None, **extra: object) -> dict[str, object]:
        arn = f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:{name}-AbCdEf"
        found: dict[str, object] = {"ARN": arn, "Name": name, "RotationEnabled": True, **extra}
        if lambda_arn:
            found["RotationLambdaARN"] = lambda_arn
        return found

    rotated = datetime(2026, 1, 2, tzinfo=UTC)
    sm.add_response(
        "list_secrets",
        {
            "SecretList": [
                entry("memorydb/a", function, LastRotatedDate=rotated),
                entry("memorydb/b", OTHER),
                entry("plain", None),
            ],
            "NextToken": "page-2",
        },
        {"MaxResults": 100},
    )
    sm.add_response(
        "list_secrets",
        {
            "SecretList": [
                entry(
                    "memorydb/c",
                    function + ":live",
                    Tags=[{"Key": "memorydb-rotation-fleet", "Value": "payments"}],
                ),
                entry("memorydb/d", function, RotationEnabled=False),
            ]
        },
        {"MaxResults": 100, "NextToken": "page-2"},
    )

    doc = checked(list_command.run(stubs.aws, function))

    assert [row["name"] for row in doc["secrets"]] == ["memorydb/a", "memorydb/c", "memorydb/d"]
    rows = {row["name"]: row for row in doc["secrets"]}
    assert rows["memorydb/a"]["state"] == "rotated"
    assert rows["memorydb/a"]["last_rotated"] == rotated.isoformat()
    assert rows["memorydb/c"]["fleet"] == "payments"
    assert rows["memorydb/d"]["state"] == "rotation disabled"
    list_command.render(Output(json_mode=False, terminal=False), doc)
