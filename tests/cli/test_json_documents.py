"""Each command's `--json` document, printed on the served sandbox, against its schema.

Every CLI test already validates what it reads (tests/cli/conftest.py: `Result.doc`); these
tests exercise each schema directly and prove the check is not vacuous: a copy of each real
document with one key removed or added anywhere, a verdict outside the enum, an exit code that
is not the verdict's, a time that is not a time, or a password where a fingerprint goes, fails.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from memorydb_rotation_cli.documents import COMMANDS
from sandbox.sandbox import new_password
from sandbox.server import ServedSandbox
from tests.cli.conftest import Cli, Seeded
from tests.cli.documents import problems

pytestmark = pytest.mark.integration

# Objects whose keys are data (node -> why unreachable, state -> count), not a closed shape.
MAPS = {"unreachable", "states"}
TIMES = {"created", "since", "at", "last_rotated", "next_rotation", "started", "ended"}
Path = tuple[str | int, ...]


def _objects(node: Any, path: Path = ()) -> Iterator[tuple[Path, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _objects(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _objects(value, (*path, index))


def _changed(doc: dict[str, Any], path: Path, change: Any) -> dict[str, Any]:
    mutated = copy.deepcopy(doc)
    target: Any = mutated
    for step in path:
        target = target[step]
    change(target)
    return mutated


def mutations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Copies of `doc`, each broken in one way its schema must catch."""
    for path, node in _objects(doc):
        if path and path[-1] in MAPS:
            continue
        where = "/".join(map(str, path)) or "the document"
        for key in node:
            yield f"{where} without {key}", _changed(doc, path, lambda n, k=key: n.pop(k))
        yield f"{where} with an extra key", _changed(doc, path, lambda n: n.update(extra=1))
        for key, value in node.items():
            if key in TIMES and isinstance(value, str):
                yield (
                    f"{where}/{key} not a time",
                    _changed(doc, path, lambda n, k=key: n.update({k: "yesterday"})),
                )
            if key == "fingerprint" and isinstance(value, str):
                yield (
                    f"{where}/fingerprint holding a password",
                    _changed(doc, path, lambda n: n.update(fingerprint=new_password())),
                )
    if "verdict" in doc:
        yield (
            "a verdict outside the enum",
            _changed(doc, ("verdict",), lambda n: n.update(code="looks-fine")),
        )
    for other in {0, 1, 2} - {doc["exit_code"]}:
        yield f"exit code {other}", {**doc, "exit_code": other}
    yield "another command's document", {**doc, "command": "policy"}


def assert_strict(doc: dict[str, Any], command: str) -> int:
    """`doc` validates and none of its mutations does; returns how many were tried."""
    assert doc["command"] == command
    assert problems(doc, command) == []
    tried = 0
    for what, mutated in mutations(doc):
        assert problems(mutated, command), f"{command}: {what} still validates"
        tried += 1
    return tried


def _json(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    """The raw document (not through Result.doc, which validates it already)."""
    result = cli(*args, "--json")
    loaded: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, loaded


def test_status_healthy_and_in_progress(cli: Cli, served: ServedSandbox, seeded: Seeded) -> None:
    ca = ("--ca-bundle", str(served.ca_bundle))
    code, healthy = _json(cli, "status", seeded.arn, "--probe", *ca)
    assert (code, healthy["verdict"]["code"]) == (0, "healthy")
    assert healthy["probe"][0]["fingerprint"].startswith("sha256:")
    assert assert_strict(healthy, "status") > 50

    token = str(uuid.uuid4())
    served.sandbox.stage_pending(seeded.arn, token)
    served.sandbox.put_version(
        seeded.arn,
        token,
        json.dumps(served.sandbox.secret_document(seeded.user, new_password())),
        ["AWSPENDING"],
    )
    code, pending = _json(cli, "status", seeded.arn)
    assert (code, pending["verdict"]["code"]) == (0, "rotation-in-progress")
    assert pending["pending"]["version"] == token
    assert_strict(pending, "status")


def test_rotate_follow_and_history(cli: Cli, seeded: Seeded) -> None:
    code, rotated = _json(cli, "rotate", seeded.arn, "--follow", "--timeout", "60")
    assert (code, rotated["result"]) == (0, "succeeded")
    assert {e["kind"] for e in rotated["events"]} >= {"labels", "step"}
    assert assert_strict(rotated, "rotate") > 20

    code, history = _json(cli, "history", seeded.arn)
    assert (code, [r["outcome"] for r in history["rotations"]]) == (0, ["succeeded"])
    assert [s["step"] for s in history["rotations"][0]["steps"]][-1] == "finishSecret"
    assert_strict(history, "history")


def test_repair_with_nothing_to_repair(cli: Cli, served: ServedSandbox, seeded: Seeded) -> None:
    code, doc = _json(cli, "repair", seeded.arn, "--ca-bundle", str(served.ca_bundle))
    assert (code, doc["verdict"]["code"], doc["findings"]) == (0, "nothing-to-repair", [])
    assert doc["probe"]
    assert_strict(doc, "repair")


def test_repair_that_refuses(cli: Cli, served: ServedSandbox, seeded: Seeded) -> None:
    # A second password no labelled version accounts for: repair refuses and names the way on.
    unknown = new_password()
    served.sandbox.memorydb_client.update_user(
        UserName=seeded.user,
        AuthenticationMode={"Type": "password", "Passwords": [seeded.password, unknown]},
    )
    served.sandbox.passwords_seen.add(unknown)
    served.sandbox.settle()
    code, doc = _json(cli, "repair", seeded.arn, "--apply", "--ca-bundle", str(served.ca_bundle))
    assert (code, doc["verdict"]["code"]) == (1, "refused")
    assert any(f["refused"] for f in doc["findings"])
    assert_strict(doc, "repair")


def test_doctor(cli: Cli, served: ServedSandbox, seeded: Seeded) -> None:
    code, doc = _json(cli, "doctor", seeded.arn, "--ca-bundle", str(served.ca_bundle))
    assert (
        code == {"ok": 0, "ready-to-deploy": 0, "fail": 1, "incomplete": 2}[doc["verdict"]["code"]]
    )
    assert len(doc["checks"]) == sum(doc["summary"].values())
    assert assert_strict(doc, "doctor") > 50


def test_list(cli: Cli, seeded: Seeded) -> None:
    code, doc = _json(cli, "list", seeded.function_arn)
    assert code == 0
    assert seeded.arn in {row["arn"] for row in doc["secrets"]}
    assert sum(doc["states"].values()) == doc["count"]
    assert_strict(doc, "list")


@pytest.mark.parametrize("command", COMMANDS)
def test_the_error_document_of_every_command(cli: Cli, command: str) -> None:
    target = "no-such-function" if command == "list" else "no-such-secret"
    code, doc = _json(cli, command, target)
    assert (code, set(doc)) == (2, {"command", "error", "exit_code"})
    # Three keys removed, one added, two other exit codes, another command: 7 mutations.
    assert assert_strict(doc, command) == 7
    # One command's error document is not another's.
    other = next(c for c in COMMANDS if c != command)
    assert problems(doc, other)
