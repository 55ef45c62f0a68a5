"""The JSON Schemas of the `--json` documents, held to the code that writes the documents.

Each schema is itself valid draft 2020-12, strict (every object closes with
`additionalProperties: false` and requires every key the code always writes), describes every
property, names no secret-bearing field, and its closed vocabularies are the code's own tables:
a verdict, result or action the code gains without the schema (or the table) fails here. The
tables are in turn held to the code by reading it (ast): a literal verdict that is not in its
table fails too, whether or not a test reaches it.
"""

from __future__ import annotations

import ast
import copy
import inspect
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer.main
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from typer.testing import CliRunner

import memorydb_rotation_cli
from memorydb_rotation_cli import doctor, history, list_command, repair, rotate, status
from memorydb_rotation_cli.app import app
from memorydb_rotation_cli.documents import COMMANDS, load_schema, schema_file
from memorydb_rotation_cli.state import STAGES, STEP_NAMES
from rotation.models import Outcome
from tests.cli.documents import ERROR_KEYS, problems

SCHEMAS = Path(memorydb_rotation_cli.__file__).parent / "schemas"
# Where a condition (if/then) only restates part of a property, not the object's shape.
CONDITIONS = {"if", "then", "else"}


def walk(node: Any, path: str = "", condition: bool = False) -> Iterator[tuple[str, Any, bool]]:
    """Every subschema with its JSON pointer, and whether it sits under an if/then/else."""
    if not isinstance(node, dict):
        return
    yield path, node, condition
    for name, sub in (node.get("properties") or {}).items():
        yield from walk(sub, f"{path}/properties/{name}", condition)
    for name, sub in (node.get("$defs") or {}).items():
        yield from walk(sub, f"{path}/$defs/{name}", condition)
    for key in ("items", "additionalProperties", "propertyNames", "not", *CONDITIONS):
        yield from walk(node.get(key), f"{path}/{key}", condition or key in CONDITIONS)
    for key in ("oneOf", "anyOf", "allOf"):
        for index, sub in enumerate(node.get(key) or []):
            yield from walk(sub, f"{path}/{key}/{index}", condition)


def at(schema: dict[str, Any], pointer: str) -> Any:
    node: Any = schema
    for part in pointer.strip("/").split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def exit_table(schema: dict[str, Any]) -> dict[str, int]:
    """verdict code -> exit code, as the report's if/then rules say."""
    table: dict[str, int] = {}
    for rule in at(schema, "/$defs/report").get("allOf", []):
        codes = at(rule, "/if/properties/verdict/properties/code/enum")
        for code in codes:
            table[code] = at(rule, "/then/properties/exit_code/const")
    return table


@pytest.fixture(params=COMMANDS)
def command(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- the files ----------------------------------------------------------------------------------


def test_every_command_with_json_has_a_schema_and_no_schema_is_stray() -> None:
    group = typer.main.get_command(app)
    with_json = {
        name
        for name, cmd in group.commands.items()  # type: ignore[attr-defined]
        if any("--json" in getattr(p, "opts", []) for p in cmd.params)
    }
    assert with_json == set(COMMANDS)
    assert {p.name for p in SCHEMAS.iterdir()} == {f"{c}.schema.json" for c in COMMANDS}
    with pytest.raises(ValueError, match="no command"):
        schema_file("policy")


def test_each_commands_help_says_where_its_schema_is(command: str) -> None:
    shown = CliRunner().invoke(app, [command, "--help"], terminal_width=100)
    assert shown.exit_code == 0
    text = " ".join(shown.stdout.split())
    assert f"memorydb_rotation_cli as schemas/{command}.schema.json" in text
    assert schema_file(command).is_file()


def test_each_schema_is_valid_draft_2020_12(command: str) -> None:
    schema = load_schema(command)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:memorydb-rotation:schema:{command}"
    assert schema["title"] == f"memorydb-rotation {command} --json"
    assert schema["description"]
    # A report, or the error document every command prints on exit 2.
    assert schema["oneOf"] == [{"$ref": "#/$defs/report"}, {"$ref": "#/$defs/error"}]
    assert at(schema, "/$defs/report/properties/command/const") == command
    assert at(schema, "/$defs/error/properties/command/const") == command


def test_a_broken_schema_is_caught() -> None:
    schema = load_schema("status")
    schema["$defs"]["report"]["properties"]["exit_code"]["enum"] = "0, 1 or 2"
    with pytest.raises(Exception, match="is not of type 'array'"):
        Draft202012Validator.check_schema(schema)


def test_every_ref_resolves_and_every_definition_is_used(command: str) -> None:
    schema = load_schema(command)
    text = schema_file(command).read_text(encoding="utf-8")
    refs = set(re.findall(r'"\$ref": "#/\$defs/([a-z_]+)"', text))
    assert refs == set(schema["$defs"])


def test_every_object_is_closed_requires_its_keys_and_describes_them(command: str) -> None:
    loose = []
    for path, node, condition in walk(load_schema(command)):
        types = node.get("type")
        types = types if isinstance(types, list) else [types]
        if condition or "object" not in types:
            continue
        if "properties" in node:
            if node.get("additionalProperties") is not False:
                loose.append(f"{path}: additionalProperties is not false")
            if sorted(node.get("required", [])) != sorted(node["properties"]):
                loose.append(f"{path}: required is not every key the code writes")
            loose += [
                f"{path}/properties/{name}: no description"
                for name, sub in node["properties"].items()
                if not str(sub.get("description", "")).strip()
            ]
        elif not (isinstance(node.get("additionalProperties"), dict) and "propertyNames" in node):
            # The only open objects are maps (node -> reason, state -> count), keys constrained.
            loose.append(f"{path}: an object with neither properties nor a constrained map")
        if not str(node.get("description", "")).strip():
            loose.append(f"{path}: no description")
    assert loose == []


# -- no secret-bearing field ----------------------------------------------------------------------

SECRETISH = re.compile(
    r"pass(word|wd|phrase)|secret_?(string|value|binary)|credential|rotation_?token|"
    r"private|api_?key|access_?key|session|auth|token",
    re.IGNORECASE,
)
VERSION_ID_SHAPE = {"minLength": 32, "maxLength": 64, "pattern": "^[A-Za-z0-9-]+$"}


# The fields whose names only look secret-bearing, each with the shape that keeps it so.
LOOKALIKES: dict[str, Callable[[dict[str, Any]], bool]] = {
    # A count of passwords, never one.
    "password_count": lambda sub: sub.get("type") == "integer",
    # The name of the function's setting and its value as found (drop, keep, drop-after).
    "old_password_policy": lambda sub: (
        sub.get("type") == "string" and "OLD_PASSWORD_POLICY" in sub.get("description", "")
    ),
    # A ClientRequestToken is the version's id, never the RotationToken.
    "token": lambda sub: {k: sub.get(k) for k in VERSION_ID_SHAPE} == VERSION_ID_SHAPE,
}


def secret_fields(schema: dict[str, Any]) -> list[str]:
    """Every property whose name says it could carry a secret, except the look-alikes in the
    shape that keeps them harmless."""
    found = []
    for path, node, _condition in walk(schema):
        for name, sub in (node.get("properties") or {}).items():
            if not SECRETISH.search(name):
                continue
            if name in LOOKALIKES and LOOKALIKES[name](sub):
                continue
            found.append(f"{path}/properties/{name}")
    return found


def test_no_schema_has_a_secret_bearing_field(command: str) -> None:
    assert secret_fields(load_schema(command)) == []


def test_the_secret_field_check_can_fail() -> None:
    schema = load_schema("status")
    user = schema["$defs"]["report"]["properties"]["user"]["properties"]
    user["password"] = {"type": "string", "description": "leaked"}
    user["password_count"] = {"type": "string", "description": "a count as text could be anything"}
    rotate_schema = load_schema("rotate")
    rotate_schema["$defs"]["report"]["properties"]["token"] = {"type": "string", "description": "x"}
    rotate_schema["$defs"]["report"]["properties"]["rotation_token"] = copy.deepcopy(
        rotate_schema["$defs"]["report"]["properties"]["secret"]
    )
    assert secret_fields(schema) == [
        "/$defs/report/properties/user/properties/password_count",
        "/$defs/report/properties/user/properties/password",
    ]
    assert secret_fields(rotate_schema) == [
        "/$defs/report/properties/token",
        "/$defs/report/properties/rotation_token",
    ]


def test_fingerprints_cannot_carry_a_value() -> None:
    for command in ("status", "repair"):
        for path, node, _condition in walk(load_schema(command)):
            if path.endswith("/fingerprint"):
                assert node["pattern"] == "^sha256:[0-9a-f]{8}$", path


# -- the vocabularies are the code's ----------------------------------------------------------


def _enum(schema: dict[str, Any], pointer: str) -> list[Any]:
    return list(at(schema, pointer)["enum"])


def test_status_verdicts_and_exit_codes_are_the_codes() -> None:
    schema = load_schema("status")
    assert _enum(schema, "/$defs/report/properties/verdict/properties/code") == list(
        status.VERDICTS
    )
    assert exit_table(schema) == status.VERDICTS
    assert _enum(schema, "/$defs/report/properties/exit_code") == sorted(
        set(status.VERDICTS.values())
    )


@pytest.mark.parametrize(
    ("command", "table"),
    [("repair", repair.VERDICTS), ("doctor", doctor.VERDICTS), ("rotate", rotate.RESULTS)],
)
def test_verdicts_and_exit_codes_are_the_codes(command: str, table: dict[str, int]) -> None:
    schema = load_schema(command)
    assert _enum(schema, "/$defs/report/properties/verdict/properties/code") == list(table)
    assert exit_table(schema) == table


def test_the_other_closed_vocabularies_are_the_codes() -> None:
    report = "/$defs/report/properties"
    doctor_schema, rotate_schema = load_schema("doctor"), load_schema("rotate")
    repair_schema, history_schema = load_schema("repair"), load_schema("history")
    list_schema = load_schema("list")
    assert _enum(doctor_schema, f"{report}/checks/items/properties/id") == [
        check_id for check_id, _title, _method in doctor.CHECKS
    ]
    assert _enum(doctor_schema, f"{report}/checks/items/properties/result") == list(doctor.RESULTS)
    assert list(at(doctor_schema, f"{report}/summary/properties")) == list(doctor.RESULTS)
    assert _enum(rotate_schema, f"{report}/result") == list(rotate.RESULTS)
    assert _enum(rotate_schema, f"{report}/events/items/properties/kind") == list(
        rotate.EVENT_KINDS
    )
    assert _enum(repair_schema, f"{report}/findings/items/properties/action") == [
        *repair.ACTIONS,
        None,
    ]
    rotation = f"{report}/rotations/items/properties"
    assert _enum(history_schema, f"{rotation}/kind") == list(history.KINDS)
    assert _enum(history_schema, f"{rotation}/outcome") == list(history.OUTCOMES)
    assert _enum(history_schema, f"{report}/verdict/properties/code") == [history.VERDICT]
    assert _enum(list_schema, f"{report}/secrets/items/properties/state") == list(
        list_command.STATES
    )
    assert at(list_schema, f"{report}/states/propertyNames")["enum"] == list(list_command.STATES)
    for command in ("status", "repair"):
        assert _enum(load_schema(command), "/$defs/probe/properties/stage") == list(STAGES)


def test_step_names_and_step_outcomes_are_the_functions() -> None:
    steps = [*STEP_NAMES, None]
    for command, pointer in [
        ("status", "/$defs/step_line/properties/step"),
        ("history", "/$defs/step_line/properties/step"),
        ("rotate", "/$defs/report/properties/failed_step"),
        ("rotate", "/$defs/report/properties/events/items/properties/step"),
        ("history", "/$defs/report/properties/rotations/items/properties/failed_step"),
    ]:
        found = _enum(load_schema(command), pointer)
        assert found in (steps, list(STEP_NAMES)), (command, pointer)
    for command in ("status", "history"):
        assert _enum(load_schema(command), "/$defs/step_line/properties/outcome") == [
            *(outcome.value for outcome in Outcome),
            None,
        ]


def test_shared_shapes_are_the_same_in_every_schema() -> None:
    defs = {c: load_schema(c)["$defs"] for c in COMMANDS}
    assert defs["status"]["step_line"] == defs["history"]["step_line"]
    assert defs["status"]["probe"] == defs["repair"]["probe"]
    assert defs["status"]["unknown"] == defs["repair"]["unknown"]
    errors = [copy.deepcopy(d["error"]) for d in defs.values()]
    for error in errors:
        error["properties"]["command"].pop("const")
        error.pop("description")
    assert all(error == errors[0] for error in errors)
    verdicts = [copy.deepcopy(d["report"]["properties"].get("verdict")) for d in defs.values()]
    for verdict in filter(None, verdicts):
        verdict["properties"]["code"].pop("enum")
        verdict.pop("description")
    assert all(v == verdicts[0] for v in verdicts if v is not None)


# -- the tables are the code's ----------------------------------------------------------------


def _strings(node: ast.AST | None) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _strings(node.body) | _strings(node.orelse)
    return set()


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return str(node.slice.value)
    return None


def literals(
    module: ModuleType,
    *,
    within: str | None = None,
    calls: tuple[str, ...] = (),
    keywords: tuple[str, ...] = (),
    targets: tuple[str, ...] = (),
    dict_keys: tuple[str, ...] = (),
    returns: bool = False,
) -> set[str]:
    """The string literals the module writes into one slot: a call's first argument, a keyword,
    an assignment's target, a dict key's value, or (`returns`) what `within` returns."""
    tree: ast.AST = ast.parse(inspect.getsource(module))
    if within is not None:
        tree = next(
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == within
        )
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if _name(node.func) in calls and node.args:
                found |= _strings(node.args[0])
            found |= {s for k in node.keywords if k.arg in keywords for s in _strings(k.value)}
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs = list(zip(target.elts, node.value.elts, strict=False))
                else:
                    pairs = [(target, node.value)]
                found |= {s for t, v in pairs if _name(t) in targets for s in _strings(v)}
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if key is not None and _strings(key) & set(dict_keys):
                    found |= _strings(value)
        elif isinstance(node, ast.Return) and returns:
            found |= _strings(node.value)
    return found


def test_every_verdict_status_writes_is_in_its_table_with_its_exit_code() -> None:
    written = set()
    for node in ast.walk(ast.parse(inspect.getsource(status))):
        if isinstance(node, ast.Call) and _name(node.func) == "Verdict":
            code, exit_name = node.args[0], node.args[3]
            assert isinstance(code, ast.Constant)
            assert isinstance(exit_name, ast.Name)
            written.add((code.value, getattr(status, exit_name.id)))
    assert written == set(status.VERDICTS.items())


def test_every_word_the_other_commands_write_is_in_its_table() -> None:
    assert literals(repair, within="run", dict_keys=("code",)) == set(repair.VERDICTS)
    assert literals(repair, keywords=("action",)) == set(repair.ACTIONS)
    assert literals(doctor, within="run", targets=("name",)) == set(doctor.VERDICTS)
    assert literals(
        rotate, calls=("_end", "Outcome"), keywords=("result",), targets=("result",)
    ) | {
        "started",
        "succeeded",
    } == set(rotate.RESULTS)
    assert literals(rotate, targets=("result",)) == {"started", "succeeded"}
    assert literals(rotate, calls=("Event",)) == set(rotate.EVENT_KINDS)
    assert literals(history, within="kind", returns=True) == set(history.KINDS)
    assert literals(history, within="outcome", returns=True) == set(history.OUTCOMES)
    assert literals(list_command, within="_row", targets=("state",)) == set(list_command.STATES)


def test_a_word_outside_its_table_is_refused_where_it_is_made() -> None:
    with pytest.raises(ValueError, match="not in VERDICTS"):
        status.Verdict("looks-fine", "a verdict nobody added to the table", None, 0)
    with pytest.raises(ValueError, match="not in VERDICTS"):
        status.Verdict("healthy", "healthy with the wrong exit code", None, 1)
    with pytest.raises(ValueError, match="not in EVENT_KINDS"):
        rotate.Event("gossip", "an event kind nobody added")
    with pytest.raises(ValueError, match="not in ACTIONS"):
        repair.Finding("p", "plan", action="reboot")


# -- docs/cli.md ------------------------------------------------------------------------------

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", CLI_DOC.read_text(), re.MULTILINE | re.DOTALL)


def test_the_docs_example_of_every_command_validates() -> None:
    examples = [json.loads(block) for block in _blocks("json")]
    reports = sorted(e["command"] for e in examples if set(e) != ERROR_KEYS)
    assert reports == sorted(COMMANDS)
    assert any(set(e) == ERROR_KEYS for e in examples)
    for example in examples:
        assert problems(example) == [], example["command"]


def test_the_docs_link_every_schema() -> None:
    text = CLI_DOC.read_text()
    for command in COMMANDS:
        link = f"[{command}.schema.json](../memorydb_rotation_cli/schemas/{command}.schema.json)"
        assert link in text
        assert (CLI_DOC.parent / link.split("(")[1].rstrip(")")).resolve().is_file()


def test_the_docs_validation_snippet_accepts_a_document_and_refuses_a_broken_one() -> None:
    (snippet,) = [b for b in _blocks("sh") if "Draft202012Validator" in b]
    code = snippet.split("python -c '", 1)[1].rsplit("'", 1)[0]
    example = next(json.loads(b) for b in _blocks("json") if '"command": "list"' in b)
    broken = {**example, "count": "two"}
    for doc, expected in [(example, 0), (broken, 1)]:
        ran = subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(doc),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ran.returncode == expected, ran.stderr
