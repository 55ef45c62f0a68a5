"""events/: one sample rotation event per step, and drop-after's dropOldPassword event, usable
with `sam local invoke -e` and parsed by the real event models."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from rotation.errors import BadEventError
from rotation.models import DROP_ACTION, DropOldPasswordEvent, RotationRequest, Step

from .cfn import ROOT

EVENTS = ROOT / "events"
SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$"
)
KEYS = {"Step", "SecretId", "ClientRequestToken"}


def event_problems(name: str, event: Any) -> list[str]:
    if not isinstance(event, dict):
        return [f"{name}: not a JSON object"]
    problems = []
    if set(event) != KEYS:
        problems.append(f"{name}: keys {sorted(event)}, expected {sorted(KEYS)}")
    if event.get("Step") != name:
        problems.append(f"{name}: Step is {event.get('Step')!r}")
    if not SECRET_ARN.match(str(event.get("SecretId"))):
        problems.append(f"{name}: SecretId is not a secret ARN with its suffix")
    try:
        token = uuid.UUID(str(event.get("ClientRequestToken")))
    except ValueError:
        problems.append(f"{name}: ClientRequestToken is not a UUID")
    else:
        if str(token) != event.get("ClientRequestToken"):
            problems.append(f"{name}: ClientRequestToken is not in canonical UUID form")
    try:
        request = RotationRequest.from_event(event)
    except BadEventError as exc:
        problems.append(f"{name}: the handler's model refuses it: {exc}")
    else:
        if request.step.value != name:
            problems.append(f"{name}: parsed as {request.step.value}")
    return problems


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def test_there_is_one_event_per_step_and_the_drop_event() -> None:
    assert sorted(path.stem for path in EVENTS.glob("*.json")) == sorted(
        [*(step.value for step in Step), DROP_ACTION]
    )


def test_the_drop_event_is_what_the_schedule_sends() -> None:
    event = _load(EVENTS / f"{DROP_ACTION}.json")
    finish = _load(EVENTS / "finishSecret.json")

    parsed = DropOldPasswordEvent.from_event(event)

    assert parsed == DropOldPasswordEvent.for_rotation(
        finish["SecretId"], finish["ClientRequestToken"]
    )


@pytest.mark.parametrize("step", [step.value for step in Step])
def test_each_event_is_a_well_formed_rotation_event(step: str) -> None:
    assert event_problems(step, _load(EVENTS / f"{step}.json")) == []


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("RotationToken", "secret-token"),
        ("SecretId", "memorydb/app-user"),
        ("ClientRequestToken", "not-a-uuid-but-long-enough-for-the-model-0000"),
        ("Step", "setSecret"),
        ("SecretId", None),
    ],
)
def test_a_malformed_event_is_caught(change: str, value: Any) -> None:
    event = _load(EVENTS / "createSecret.json")
    if value is None:
        del event[change]
    else:
        event[change] = value

    assert event_problems("createSecret", event)


def test_the_events_share_one_rotation_token_as_a_real_rotation_does() -> None:
    # The drop event names the token of the rotation whose grace it ends: the same one.
    tokens = {_load(path)["ClientRequestToken"] for path in EVENTS.glob("*.json")}

    assert len(tokens) == 1
