"""Helpers shared by every test family."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent.parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/, as `sam local invoke -e` would send it."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event
