"""drop-after on fakes: finishSecret schedules, the scheduled event drops only what it should."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest

from rotation.adapters.scheduler import at_expression, schedule_name
from rotation.errors import BadEventError, ClusterUnreachableError, SettingsError, WaitTimeoutError
from rotation.models import (
    AWSCURRENT,
    AWSPENDING,
    AWSPREVIOUS,
    DropOldPasswordEvent,
    RotationRequest,
    Step,
    is_drop_event,
)
from rotation.rotator import Rotator, StepResult
from rotation.settings import DEFAULT_GRACE_SECONDS, Settings
from tests.unit.conftest import FUNCTION_ARN, World, invocation, request
from tests.unit.fakes import CURRENT_VERSION, OLD_PASSWORD, SECRET_ARN, TOKEN

DROP_AFTER = {
    "OLD_PASSWORD_POLICY": "drop-after",
    "SCHEDULE_GROUP_NAME": "memorydb-rotation",
    "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/scheduler",
}


@dataclass
class FakeDropScheduler:
    created: dict[str, int] = field(default_factory=dict)
    events: list[DropOldPasswordEvent] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)

    def schedule_drop(
        self, event: DropOldPasswordEvent, *, grace_seconds: int, target_arn: str
    ) -> bool:
        self.events.append(event)
        self.targets.append(target_arn)
        name = schedule_name(event.secret_id, event.token)
        if name in self.created:
            return False
        self.created[name] = grace_seconds
        return True


def _rotator(world: World, scheduler: FakeDropScheduler | None = None) -> Rotator:
    return Rotator(
        world.store,
        world.users,
        world.verifier,
        world.settings,
        scheduler=scheduler
        if scheduler is not None or world.settings.old_password_policy != "drop-after"
        else FakeDropScheduler(),
        clock=world.clock,
        sleep=world.clock.sleep,
    )


def _run(world: World, scheduler: FakeDropScheduler, *steps: Step) -> list[StepResult]:
    world.settings = Settings.from_env(DROP_AFTER)
    rotator = _rotator(world, scheduler)
    return [rotator.handle(request(step), invocation()) for step in steps or tuple(Step)]


def _event(token: str = TOKEN) -> DropOldPasswordEvent:
    return DropOldPasswordEvent.from_event(
        {"Action": "dropOldPassword", "SecretId": SECRET_ARN, "ClientRequestToken": token}
    )


def _drop(world: World, event: DropOldPasswordEvent, time_left: float = 600.0) -> StepResult:
    return _rotator(world).drop_old_password(event, invocation(time_left))


def _first_node(world: World) -> str:
    return world.users.clusters[0].nodes[0].endpoint.host


def _rotated(world: World) -> FakeDropScheduler:
    scheduler = FakeDropScheduler()
    _run(world, scheduler)
    # What Secrets Manager does after finishSecret succeeded.
    world.store.versions[TOKEN].remove(AWSPENDING)
    return scheduler


# -- finishSecret ------------------------------------------------------------------------------


def test_finish_moves_the_label_keeps_the_old_password_and_schedules(world: World) -> None:
    scheduler = FakeDropScheduler()

    results = _run(world, scheduler)

    assert (results[-1].outcome, results[-1].old_password) == ("promoted", "drop_scheduled")
    assert AWSCURRENT in world.store.versions[TOKEN]
    assert world.users.passwords == [OLD_PASSWORD, world.store.password(TOKEN)]
    assert scheduler.created == {schedule_name(SECRET_ARN, TOKEN): DEFAULT_GRACE_SECONDS}


def test_a_retried_finish_finds_the_schedule_there(world: World) -> None:
    scheduler = FakeDropScheduler()
    _run(world, scheduler)

    [again] = _run(world, scheduler, Step.FINISH)

    assert (again.outcome, again.old_password) == ("already_current", "drop_already_scheduled")
    assert len(scheduler.created) == 1
    assert len(world.users.passwords) == 2


def test_a_finish_that_died_before_scheduling_schedules_on_retry(world: World) -> None:
    scheduler = FakeDropScheduler()
    _run(world, scheduler)
    scheduler.created.clear()  # the first attempt died between the label move and the schedule

    [again] = _run(world, scheduler, Step.FINISH)

    assert (again.outcome, again.old_password) == ("already_current", "drop_scheduled")
    assert len(scheduler.created) == 1


def test_a_scheduler_comes_with_drop_after_and_only_then(world: World) -> None:
    with pytest.raises(SettingsError, match="DropScheduler"):
        world.rotator(**Settings.from_env(DROP_AFTER).model_dump())
    with pytest.raises(SettingsError, match="DropScheduler"):
        world.rotator(FakeDropScheduler())


def test_the_schedule_targets_the_invoked_function_with_the_secret_arn(world: World) -> None:
    scheduler = FakeDropScheduler()

    _run(world, scheduler)

    assert scheduler.targets == [FUNCTION_ARN]
    assert scheduler.events == [DropOldPasswordEvent.for_rotation(SECRET_ARN, TOKEN)]


# -- the scheduled drop -------------------------------------------------------------------------


def test_the_drop_leaves_only_the_current_password(world: World) -> None:
    _rotated(world)
    new = world.store.password(TOKEN)

    result = _drop(world, _event())

    assert (result.outcome, result.old_password, result.reason) == ("grace_over", "dropped", "")
    assert world.users.passwords == [new]


def test_the_drop_is_idempotent(world: World) -> None:
    _rotated(world)
    _drop(world, _event())
    updates = len(world.users.updates)

    again = _drop(world, _event())

    assert (again.outcome, again.old_password) == ("grace_over", "already_dropped")
    assert len(world.users.updates) == updates


def test_a_stale_event_is_a_noop(world: World) -> None:
    _rotated(world)

    result = _drop(world, _event(CURRENT_VERSION))  # now AWSPREVIOUS

    assert (result.old_password, result.kept_because) == ("kept", "superseded")
    assert len(world.users.passwords) == 2


def test_an_unknown_token_is_a_noop(world: World) -> None:
    _rotated(world)

    result = _drop(world, _event("f" * 36))

    assert (result.old_password, result.kept_because) == ("kept", "superseded")
    assert len(world.users.passwords) == 2


def test_no_drop_while_another_rotation_is_pending(world: World) -> None:
    _rotated(world)
    world.store.versions["9" * 36] = [AWSPENDING]

    result = _drop(world, _event())

    assert (result.old_password, result.kept_because) == ("kept", "rotation_in_progress")
    assert len(world.users.passwords) == 2


def test_pending_left_on_the_current_version_does_not_block(world: World) -> None:
    _run(
        world, FakeDropScheduler()
    )  # AWSPENDING still on the token: finishSecret's end state before cleanup

    assert _drop(world, _event()).old_password == "dropped"


def test_no_drop_when_rotation_is_disabled(world: World) -> None:
    _rotated(world)
    world.store.rotation_enabled = False

    assert _drop(world, _event()).kept_because == "rotation_disabled"
    assert len(world.users.passwords) == 2


def test_no_drop_when_a_node_refuses_the_current_password(world: World) -> None:
    _rotated(world)
    world.verifier.stale[_first_node(world)] = [OLD_PASSWORD]  # a node that never got the set

    result = _drop(world, _event())

    assert (result.old_password, result.kept_because) == ("kept", "current_not_proven")
    assert "refused on" in result.reason
    assert len(world.users.passwords) == 2


def test_no_drop_when_the_user_is_on_no_cluster(world: World) -> None:
    _rotated(world)
    world.users.clusters = []

    assert _drop(world, _event()).kept_because == "current_not_proven"
    assert len(world.users.passwords) == 2


def test_no_password_is_sent_to_a_cluster_without_tls(world: World) -> None:
    _rotated(world)
    world.users.clusters = [replace(world.users.clusters[0], tls=False)]
    world.verifier.attempts.clear()

    result = _drop(world, _event())

    assert (result.old_password, result.kept_because) == ("kept", "current_not_proven")
    assert "TLS" in result.reason
    assert world.verifier.attempts == []


def test_a_user_another_secret_rotates_is_left_alone(world: World) -> None:
    _rotated(world)
    world.users.owner_arn = SECRET_ARN.replace("app-user", "other")

    result = _drop(world, _event())

    assert (result.old_password, result.kept_because) == ("kept", "user_refused")
    assert "rotated by secret" in result.reason
    assert len(world.users.passwords) == 2


def test_an_unreachable_cluster_fails_the_invocation_for_a_retry(world: World) -> None:
    _rotated(world)
    world.verifier.unreachable = True

    with pytest.raises(ClusterUnreachableError):
        _drop(world, _event())
    assert len(world.users.passwords) == 2


def test_a_user_outside_the_allow_list_is_left_alone(world: World) -> None:
    _rotated(world)
    world.settings = Settings.from_env({**DROP_AFTER, "ROTATION_ALLOWED_USERS": "other"})

    assert _drop(world, _event()).kept_because == "user_refused"
    assert len(world.users.passwords) == 2


def test_the_drop_waits_out_a_busy_user(world: World) -> None:
    _rotated(world)
    world.users.statuses = ["modifying", "modifying"]
    world.users.busy_updates = 1

    result = _drop(world, _event())

    assert (result.outcome, result.old_password) == ("grace_over", "dropped")
    assert result.waited_seconds > 0
    assert len(world.users.passwords) == 1


def test_the_drop_reads_the_labels_again_before_writing(world: World) -> None:
    _rotated(world)
    store = world.store
    original = store.describe
    calls = {"n": 0}

    def describe(secret_id: str):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:  # a rotation started between the checks and the write
            store.versions["9" * 36] = [AWSPENDING]
        return original(secret_id)

    store.describe = describe  # type: ignore[method-assign]

    assert _drop(world, _event()).kept_because == "rotation_in_progress"
    assert len(world.users.passwords) == 2


# -- the event ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        {"Action": "dropOldPassword", "SecretId": SECRET_ARN},
        {"Action": "dropOldPassword", "SecretId": "memorydb/app-user", "ClientRequestToken": TOKEN},
        {"Action": "drop", "SecretId": SECRET_ARN, "ClientRequestToken": TOKEN},
        {"Action": "dropOldPassword", "SecretId": SECRET_ARN, "ClientRequestToken": "short"},
        {
            "Action": "dropOldPassword",
            "SecretId": SECRET_ARN,
            "ClientRequestToken": TOKEN,
            "Passwords": [OLD_PASSWORD],
        },
    ],
)
def test_the_drop_event_is_parsed_strictly(event: object) -> None:
    with pytest.raises(BadEventError) as raised:
        DropOldPasswordEvent.from_event(event)
    assert OLD_PASSWORD not in str(raised.value)


def test_routing_never_mistakes_a_rotation_event() -> None:
    assert is_drop_event({"Action": "dropOldPassword"})
    assert not is_drop_event({"Step": "finishSecret", "Action": "dropOldPassword"})
    assert not is_drop_event(request(Step.FINISH).model_dump(by_alias=True))
    assert not is_drop_event("Action")


def test_the_event_round_trips_as_the_schedule_input() -> None:
    event = DropOldPasswordEvent.for_rotation(SECRET_ARN, TOKEN)
    assert DropOldPasswordEvent.from_event(event.as_input()) == event


# -- names and times ----------------------------------------------------------------------------


def test_the_schedule_name_is_stable_short_and_legal() -> None:
    name = schedule_name(SECRET_ARN, TOKEN)
    assert name == schedule_name(SECRET_ARN, TOKEN)
    assert name != schedule_name(SECRET_ARN, "f" * 36)
    assert len(name) <= 64
    assert all(c.isalnum() or c in "-_." for c in name)


@pytest.mark.parametrize(
    ("now", "grace", "expected"),
    [
        (datetime(2026, 11, 25, 13, 0, 0, tzinfo=UTC), 4200, "at(2026-11-25T14:10:00)"),
        (datetime(2026, 11, 25, 13, 0, 0, 1, tzinfo=UTC), 1, "at(2026-11-25T13:00:02)"),
        (datetime(2026, 12, 31, 23, 59, 59, 500000, tzinfo=UTC), 1, "at(2027-01-01T00:00:01)"),
    ],
)
def test_at_rounds_up_never_shortening_the_grace(now: datetime, grace: int, expected: str) -> None:
    assert at_expression(now, grace) == expected


# -- settings ----------------------------------------------------------------------------------


def test_drop_after_needs_a_group_and_a_role() -> None:
    with pytest.raises(SettingsError, match="SCHEDULE_GROUP_NAME and SCHEDULER_ROLE_ARN"):
        Settings.from_env({"OLD_PASSWORD_POLICY": "drop-after"})
    settings = Settings.from_env(DROP_AFTER)
    assert settings.old_password_grace_seconds == DEFAULT_GRACE_SECONDS == 4200


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({**DROP_AFTER, "OLD_PASSWORD_GRACE_SECONDS": "0"}, "OLD_PASSWORD_GRACE_SECONDS"),
        ({**DROP_AFTER, "OLD_PASSWORD_GRACE_SECONDS": "999999999"}, "OLD_PASSWORD_GRACE_SECONDS"),
        ({**DROP_AFTER, "SCHEDULER_ROLE_ARN": "scheduler"}, "SCHEDULER_ROLE_ARN"),
        ({**DROP_AFTER, "SCHEDULE_GROUP_NAME": "a group"}, "SCHEDULE_GROUP_NAME"),
    ],
)
def test_bad_grace_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


def test_a_user_busy_past_the_budget_fails_the_invocation(world: World) -> None:
    _rotated(world)
    world.users.busy_updates = 10_000

    with pytest.raises(WaitTimeoutError):
        _drop(world, _event(), 5)
    assert len(world.users.passwords) == 2


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("iam", "authenticates with 'iam', not passwords"),
        ("arn", "'user_arn' in the secret is not the ARN"),
        ("default", "'default' user has no password and is never rotated"),
    ],
)
def test_a_user_the_function_must_not_rotate_is_left_alone(
    world: World, change: str, reason: str
) -> None:
    _rotated(world)
    if change == "iam":
        world.users.auth_type = "iam"
    elif change == "arn":
        world.users.arn = "arn:aws:memorydb:us-east-1:123456789012:user/someone-else"
    else:
        document = json.loads(world.store.values[TOKEN])
        document["username"] = "default"
        del document["user_arn"]
        world.store.values[TOKEN] = json.dumps(document)

    result = _drop(world, _event())

    assert (result.old_password, result.kept_because) == ("kept", "user_refused")
    assert reason in result.reason
    assert len(world.users.passwords) == 2


# -- hostile and racing cases around the grace ----------------------------------------------------


def test_a_finish_invoked_with_the_secret_name_schedules_with_its_arn(world: World) -> None:
    """Every step accepts a name as SecretId; the scheduled event accepts a full ARN only."""
    scheduler = FakeDropScheduler()
    world.settings = Settings.from_env(DROP_AFTER)
    rotator = _rotator(world, scheduler)
    by_name = {"Step": "", "SecretId": "memorydb/app-user", "ClientRequestToken": TOKEN}

    for step in Step:
        rotator.handle(RotationRequest.from_event({**by_name, "Step": step.value}), invocation())

    assert [event.secret_id for event in scheduler.events] == [SECRET_ARN]
    assert DropOldPasswordEvent.from_event(scheduler.events[0].as_input()).secret_id == SECRET_ARN


def _edit_current(world: World, password: str | None = None) -> str:
    """An operator puts a new AWSCURRENT during the grace: one key added, maybe a new password."""
    document = json.loads(world.store.values[TOKEN])
    document["team"] = "payments"
    if password is not None:
        document["password"] = password
    edited = "e" * 8 + "-0000-4000-8000-000000000009"
    world.store.values[edited] = json.dumps(document)
    world.store.versions[TOKEN] = [AWSPREVIOUS]
    world.store.versions[CURRENT_VERSION] = []
    world.store.versions[edited] = [AWSCURRENT]
    return edited


def test_an_edit_that_keeps_the_password_still_ends_the_grace(world: World) -> None:
    _rotated(world)
    new = world.store.password(TOKEN)
    _edit_current(world)

    result = _drop(world, _event())

    assert (result.outcome, result.old_password) == ("grace_over", "dropped")
    assert "was edited during the grace and still holds the password" in result.reason
    assert world.users.passwords == [new]


def test_an_edit_that_changes_the_password_supersedes_the_drop(world: World) -> None:
    _rotated(world)
    _edit_current(world, password="Hand-set-password-0123456789")

    result = _drop(world, _event())

    assert (result.old_password, result.kept_because) == ("kept", "superseded")
    assert len(world.users.passwords) == 2


def test_switching_to_keep_means_scheduled_drops_keep_too(world: World) -> None:
    _rotated(world)
    world.settings = Settings.from_env({})
    world.settings = world.settings.model_copy(update={"old_password_policy": "keep"})

    result = _drop(world, _event())

    assert (result.old_password, result.kept_because) == ("kept", "policy_keep")
    assert "OLD_PASSWORD_POLICY is keep" in result.reason
    assert len(world.users.passwords) == 2


def test_switching_to_drop_still_ends_the_grace(world: World) -> None:
    _rotated(world)
    world.settings = Settings.from_env({})

    assert _drop(world, _event()).old_password == "dropped"
    assert len(world.users.passwords) == 1
