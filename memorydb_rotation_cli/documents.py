"""Where the JSON Schema of each command's `--json` document lives.

The schemas are package data (`memorydb_rotation_cli/schemas/COMMAND.schema.json`, JSON Schema
draft 2020-12), installed with the command line: a script that reads `--json` can validate what
it reads against the same file the tests hold the documents to. The CLI never validates at run
time (jsonschema is not one of its dependencies).
"""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

COMMANDS = ("status", "rotate", "repair", "doctor", "history", "list")


def schema_name(command: str) -> str:
    """The schema's path inside the package memorydb_rotation_cli (what `--help` names)."""
    if command not in COMMANDS:
        raise ValueError(f"no command {command!r} prints a --json document")
    return f"schemas/{command}.schema.json"


def schema_file(command: str) -> Traversable:
    """The installed schema file, wherever the package is."""
    return files("memorydb_rotation_cli").joinpath(*schema_name(command).split("/"))


def load_schema(command: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_file(command).read_text(encoding="utf-8"))
    return loaded
