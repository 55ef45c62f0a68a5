"""How the handler tells drop-after's scheduled event from a rotation step, without importing the
drop-after use case (rotation/grace.py) on every cold start."""

from __future__ import annotations

DROP_ACTION = "dropOldPassword"


def is_drop_event(event: object) -> bool:
    """The one key a rotation event never has: the handler routes on it, then parses strictly."""
    return isinstance(event, dict) and "Action" in event and "Step" not in event
