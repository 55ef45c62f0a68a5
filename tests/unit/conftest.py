from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from rotation.models import Invocation, RotationRequest, Step
from rotation.ports import DropScheduler
from rotation.rotator import Rotator, StepResult
from rotation.settings import Settings
from tests.unit.fakes import (
    SECRET_ARN,
    TOKEN,
    FakeClock,
    FakeSecretStore,
    FakeUserDirectory,
    FakeVerifier,
)


@dataclass
class World:
    store: FakeSecretStore
    users: FakeUserDirectory
    verifier: FakeVerifier
    clock: FakeClock
    settings: Settings

    def rotator(self, scheduler: DropScheduler | None = None, **settings: Any) -> Rotator:
        merged = self.settings.model_copy(update=settings)
        return Rotator(
            self.store,
            self.users,
            self.verifier,
            merged,
            scheduler=scheduler,
            clock=self.clock,
            sleep=self.clock.sleep,
        )

    def run(self, step: Step, *, time_left: float = 600.0, **settings: Any) -> StepResult:
        return self.rotator(**settings).handle(request(step), invocation(time_left))

    def rotate(self, **settings: Any) -> list[StepResult]:
        return [self.run(step, **settings) for step in Step]


FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:memorydb-rotation"


def invocation(time_left: float = 600.0) -> Invocation:
    return Invocation(time_left_seconds=time_left, function_arn=FUNCTION_ARN)


def request(step: Step, token: str = TOKEN, rotation_token: str | None = None) -> RotationRequest:
    event = {"Step": step.value, "SecretId": SECRET_ARN, "ClientRequestToken": token}
    if rotation_token is not None:
        event["RotationToken"] = rotation_token
    return RotationRequest.from_event(event)


@pytest.fixture
def world() -> World:
    users = FakeUserDirectory()
    return World(
        store=FakeSecretStore.with_current(),
        users=users,
        verifier=FakeVerifier(users),
        clock=FakeClock(),
        settings=Settings.from_env({}),
    )
