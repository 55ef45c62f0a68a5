"""Every `--json` document the CLI tests read is held to its command's JSON Schema.

The schemas are the package's own files (memorydb_rotation_cli/documents.py), so what the tests
prove is what an operator's script validates against. Formats are asserted (date-time through
rfc3339-validator): jsonschema treats `format` as a note unless a FormatChecker is given.
"""

from __future__ import annotations

from functools import cache
from typing import Any

# jsonschema ships no type information (and the lock has no types-jsonschema).
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from memorydb_rotation_cli.documents import load_schema

# The keys of the document a command prints instead of its report (exit 2).
ERROR_KEYS = {"command", "error", "exit_code"}


@cache
def validator(command: str, branch: str | None = None) -> Draft202012Validator:
    """The whole schema, or (`branch`: report or error) one of the two documents it allows."""
    schema = load_schema(command)
    Draft202012Validator.check_schema(schema)
    if branch is not None:
        schema = {**schema, "oneOf": [{"$ref": f"#/$defs/{branch}"}]}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def problems(doc: Any, command: str | None = None) -> list[str]:
    """Every way `doc` breaks its schema, each as `path: message` (empty: it validates)."""
    name = command or (doc.get("command") if isinstance(doc, dict) else None)
    if not isinstance(name, str):
        return ["the document names no command"]
    if validator(name).is_valid(doc):
        return []
    # oneOf says only "valid under none": explain against the document it was meant to be.
    branch = "error" if isinstance(doc, dict) and set(doc) == ERROR_KEYS else "report"
    errors = [leaf for error in validator(name, branch).iter_errors(doc) for leaf in _leaves(error)]
    found = sorted({_describe(e) for e in errors})
    return found or [f"valid as neither document of {name}"]


def _leaves(error: Any) -> list[Any]:
    if not error.context:
        return [error]
    return [leaf for child in error.context for leaf in _leaves(child)]


def _describe(error: Any) -> str:
    path = "/".join(str(p) for p in error.absolute_path) or "(document)"
    return f"{path}: {error.message}"


def checked(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc`, once it validates against its command's schema."""
    found = problems(doc)
    assert not found, f"{doc.get('command')} --json breaks its schema: " + "; ".join(found)
    return doc
