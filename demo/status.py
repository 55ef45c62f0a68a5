"""What `make demo` calls to show `status` before and after its rotation.

The demo runs the sandbox in its own process (moto's in-process mock), so the CLI's clients, built
from the standard chain, reach it without a server. The demo registers no Lambda function, so the
function's settings are not read here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from memorydb_rotation_cli import render
from memorydb_rotation_cli import status as status_command
from memorydb_rotation_cli.aws import Aws
from memorydb_rotation_cli.render import Output
from memorydb_rotation_cli.state import Inspector


def show_status(
    secret_id: str,
    *,
    ca_bundle: Path | None = None,
    probe: bool = True,
    stream: TextIO | None = None,
    connect_timeout: float = 5.0,
) -> int:
    """`memorydb-rotation status SECRET [--probe]` as text; returns its exit code."""
    out = Output(json_mode=False, stream=stream)
    inspector = Inspector(Aws.from_chain())
    verifier = status_command.make_verifier(ca_bundle, connect_timeout) if probe else None
    doc = status_command.run(
        inspector, secret_id, probe_with=verifier, timeout=connect_timeout, read_function=False
    )
    render.status(out, doc)
    return int(doc["exit_code"])
