"""`repair --apply` never makes things worse, on the served sandbox with real nodes: afterwards
every password that AWSCURRENT or AWSPENDING of any secret holds for the user still
authenticates on every node, or repair refused and said why (and wrote nothing)."""

from __future__ import annotations

import json

import pytest

from sandbox.sandbox import new_password
from sandbox.server import ServedSandbox
from tests.cli.conftest import Cli, seed

pytestmark = pytest.mark.integration


def _set_passwords(served: ServedSandbox, user: str, passwords: list[str]) -> None:
    served.sandbox.memorydb_client.update_user(
        UserName=user, AuthenticationMode={"Type": "password", "Passwords": passwords}
    )
    served.sandbox.passwords_seen.update(passwords)
    served.sandbox.settle()


def _readers_still_work(served: ServedSandbox, user: str) -> None:
    served.sandbox.settle()
    for secret in served.client("secretsmanager").list_secrets()["SecretList"]:
        view = served.sandbox.view(secret["ARN"])
        for version, stages in view.versions.items():
            value = view.values.get(version)
            if not value or value.get("username") != user:
                continue
            if {"AWSCURRENT", "AWSPENDING"} & set(stages):
                accepted = served.sandbox.accepts_everywhere(user, value["password"])
                assert all(accepted.values()), (secret["Name"], stages)


def _previous_version(served: ServedSandbox, arn: str, user: str, password: str) -> None:
    """What a rotation under `keep` leaves: the old password as AWSPREVIOUS, both on the user."""
    current = served.sandbox.view(arn).version_with("AWSCURRENT")
    assert current is not None
    served.sandbox.set_version_stages(arn, current, ["AWSPREVIOUS"])
    served.sandbox.put_version(
        arn,
        "11111111-2222-4333-8444-" + user.encode().hex()[-12:].rjust(12, "0"),
        json.dumps(served.sandbox.secret_document(user, password)),
        ["AWSCURRENT"],
    )
    served.sandbox.passwords_seen.add(password)


def test_a_guess_never_writes_when_the_policy_cannot_be_read(
    cli: Cli, served: ServedSandbox
) -> None:
    served.deploy_function("keeps-unread", environment={"OLD_PASSWORD_POLICY": "keep"})
    seeded = seed(served, function="keeps-unread")
    new = new_password()
    _previous_version(served, seeded.arn, seeded.user, new)
    _set_passwords(served, seeded.user, [new, seeded.password])
    served.client("lambda").delete_function(FunctionName="keeps-unread")

    code, doc = cli.json("repair", seeded.arn, "--apply", "--ca-bundle", str(served.ca_bundle))
    assert (code, doc["verdict"]["code"]) == (1, "refused")
    assert not any(f["applied"] for f in doc["findings"])
    # The old password (AWSPREVIOUS, what cached clients still hold) still works.
    _readers_still_work(served, seeded.user)
    assert all(served.sandbox.accepts_everywhere(seeded.user, seeded.password).values())


def test_repair_reads_the_owner_tag(cli: Cli, served: ServedSandbox) -> None:
    served.deploy_function("owner-keeps", environment={"OLD_PASSWORD_POLICY": "keep"})
    owner = seed(served, function="owner-keeps")
    # B: a copy of A's document made before A's rotation, rotation on, policy drop.
    copy = served.sandbox.create_secret(
        owner.user, owner.password, name=f"copy/{owner.user}", rotation=False
    )
    served.enable_rotation(copy, "arn:aws:lambda:us-east-1:123456789012:function:memorydb-rotation")
    new = new_password()
    _previous_version(served, owner.arn, owner.user, new)
    _set_passwords(served, owner.user, [new, owner.password])
    memorydb = served.client("memorydb")
    memorydb.tag_resource(
        ResourceArn=served.sandbox.user_arn(owner.user),
        Tags=[{"Key": "memorydb-rotation:secret", "Value": owner.arn}],
    )

    code, doc = cli.json("repair", copy, "--apply", "--ca-bundle", str(served.ca_bundle))
    assert (code, doc["verdict"]["code"]) == (1, "refused")
    assert owner.arn in doc["verdict"]["message"]
    assert doc["verdict"]["next"] == f"memorydb-rotation repair {owner.arn}"
    _readers_still_work(served, owner.user)
    assert all(served.sandbox.accepts_everywhere(owner.user, new).values())


def test_another_secrets_password_is_named_not_dropped(cli: Cli, served: ServedSandbox) -> None:
    seeded = seed(served)
    # Another secret (rotation off, e.g. a reader's copy) holds a second password of the user.
    other_password = new_password()
    served.sandbox.create_secret(
        seeded.user, other_password, name=f"other/{seeded.user}", rotation=False
    )
    _set_passwords(served, seeded.user, [seeded.password, other_password])

    code, doc = cli.json("repair", seeded.arn, "--apply", "--ca-bundle", str(served.ca_bundle))
    assert (code, doc["verdict"]["code"]) == (1, "refused")
    assert f"other/{seeded.user}" in doc["verdict"]["message"]
    _readers_still_work(served, seeded.user)
