"""What importing the handler does to its process: pydantic's plugin scan is switched off."""

from __future__ import annotations

import os
import subprocess
import sys

SHOW = "import os, rotation.handler; print(os.environ['PYDANTIC_DISABLE_PLUGINS'])"


def _imported(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    return subprocess.run(
        [sys.executable, "-c", SHOW],
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_the_handler_turns_pydantics_plugin_scan_off() -> None:
    assert _imported() == "__all__"


def test_an_operators_own_value_is_kept() -> None:
    assert _imported(PYDANTIC_DISABLE_PLUGINS="logfire") == "logfire"
