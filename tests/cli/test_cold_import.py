"""The Lambda's handler never loads the CLI or its libraries (cold start and artifact unchanged)."""

from __future__ import annotations

import subprocess
import sys


def test_the_handler_imports_no_cli_module() -> None:
    probe = (
        "import sys, rotation.handler; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in "
        "{'memorydb_rotation_cli', 'demo', 'typer', 'rich', 'click', 'sandbox'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


def test_the_cli_does_load_them() -> None:
    # The probe above can see these modules when they are loaded.
    probe = (
        "import sys, memorydb_rotation_cli.app; "
        "print('typer' in sys.modules, 'rich' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "True True"
