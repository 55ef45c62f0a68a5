"""The four steps and the guard, on in-memory fakes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import SecretStr

from rotation import errors
from rotation.models import AWSCURRENT, AWSPENDING, AWSPREVIOUS, Step
from tests.unit.conftest import World, invocation, request
from tests.unit.fakes import CURRENT_VERSION, OLD_PASSWORD, SECRET_ARN, TOKEN, secret_document


def test_full_rotation_ends_with_only_the_new_password(world: World) -> None:
    results = world.rotate()

    assert [r.outcome for r in results] == ["created", "set", "proven", "promoted"]
    assert [r.old_password for r in results] == [None, None, None, "dropped"]
    new = world.store.password(TOKEN)
    assert new != OLD_PASSWORD
    assert world.users.updates == [[OLD_PASSWORD, new], [new]]
    assert AWSCURRENT in world.store.versions[TOKEN]
    assert AWSCURRENT not in world.store.versions[CURRENT_VERSION]


def test_keep_policy_leaves_the_old_password_until_the_next_rotation(world: World) -> None:
    last = world.rotate(old_password_policy="keep")[-1]

    assert (last.outcome, last.old_password, last.kept_because) == (
        "promoted",
        "kept",
        "policy_keep",
    )
    assert world.users.passwords == [OLD_PASSWORD, world.store.password(TOKEN)]


def test_create_writes_a_copy_with_only_the_password_replaced(world: World) -> None:
    world.rotator(password_length=40).handle(
        request(Step.CREATE, rotation_token="rotation-token-xyz"), invocation()
    )

    pending = world.store.document(TOKEN)
    current = world.store.document(CURRENT_VERSION)
    assert {k: v for k, v in pending.items() if k != "password"} == {
        k: v for k, v in current.items() if k != "password"
    }
    assert len(pending["password"]) == 40
    assert not set(pending["password"]) & set(',"/@ ')
    assert world.store.rotation_tokens == ["rotation-token-xyz"]


def test_create_keeps_an_existing_pending_value(world: World) -> None:
    first = world.run(Step.CREATE)
    value = world.store.values[TOKEN]
    second = world.run(Step.CREATE)

    assert (first.outcome, second.outcome) == ("created", "kept_existing")
    assert world.store.values[TOKEN] == value
    assert world.store.writes == ["PutSecretValue"]


def test_every_step_run_twice_is_the_same_rotation(world: World) -> None:
    outcomes = []
    for step in Step:
        outcomes += [world.run(step).outcome, world.run(step).outcome]

    assert outcomes == [
        "created",
        "kept_existing",
        "set",
        "already_set",
        "proven",
        "proven",
        "promoted",
        "already_current",
    ]
    assert world.users.passwords == [world.store.password(TOKEN)]
    assert len(world.users.updates) == 2


def test_set_waits_for_a_busy_user_before_updating(world: World) -> None:
    world.run(Step.CREATE)
    world.users.statuses = ["modifying"] * 4

    result = world.run(Step.SET)

    assert result.outcome == "set"
    assert len(world.clock.sleeps) == 4
    assert result.waited_seconds == pytest.approx(sum(world.clock.sleeps))


def test_set_waits_out_invalid_user_state(world: World) -> None:
    world.run(Step.CREATE)
    world.users.busy_updates = 2

    assert world.run(Step.SET).outcome == "set"
    assert len(world.users.updates) == 1


def test_wait_stops_at_the_budget_and_writes_nothing(world: World) -> None:
    world.run(Step.CREATE)
    world.users.statuses = ["modifying"] * 10_000

    with pytest.raises(errors.WaitTimeoutError, match="still 'modifying'"):
        world.run(Step.SET, time_left=30)

    assert world.users.updates == []
    assert sum(world.clock.sleeps) == pytest.approx(30)


def test_wait_is_bounded_by_the_setting_too(world: World) -> None:
    world.run(Step.CREATE)
    world.users.statuses = ["modifying"] * 10_000

    with pytest.raises(errors.WaitTimeoutError):
        world.run(Step.TEST, time_left=600, wait_timeout_seconds=12)

    assert sum(world.clock.sleeps) == pytest.approx(12)


def test_test_fails_when_the_new_password_never_reached_the_cluster(world: World) -> None:
    world.run(Step.CREATE)
    world.run(Step.SET)
    world.users.passwords = [OLD_PASSWORD]  # the update was lost on its way

    with pytest.raises(errors.PendingPasswordRejectedError, match="refused on c1/c1-0001-001"):
        world.run(Step.TEST)


def test_test_fails_when_the_current_password_stopped_working(world: World) -> None:
    world.run(Step.CREATE)
    world.run(Step.SET)
    world.users.passwords = [world.store.password(TOKEN)]

    with pytest.raises(errors.CurrentPasswordRejectedError):
        world.run(Step.TEST)


def test_test_fails_when_the_cluster_is_unreachable(world: World) -> None:
    world.run(Step.CREATE)
    world.run(Step.SET)
    world.verifier.unreachable = True

    with pytest.raises(errors.ClusterUnreachableError):
        world.run(Step.TEST)


def test_finish_never_promotes_a_password_that_does_not_work(world: World) -> None:
    world.run(Step.CREATE)  # setSecret never ran

    with pytest.raises(errors.PendingPasswordRejectedError):
        world.run(Step.FINISH)

    assert world.store.versions[TOKEN] == [AWSPENDING]
    assert world.users.updates == []


def test_finish_retried_after_the_label_moved_completes_the_drop(world: World) -> None:
    for step in (Step.CREATE, Step.SET, Step.TEST):
        world.run(step)
    new = world.store.password(TOKEN)
    # finishSecret crashed right after moving AWSCURRENT.
    world.store.promote("secret", token=TOKEN, from_version=CURRENT_VERSION)

    result = world.run(Step.FINISH)

    assert (result.outcome, result.old_password) == ("already_current", "dropped")
    assert world.users.passwords == [new]


def test_finish_retried_with_keep_policy_changes_nothing(world: World) -> None:
    for step in (Step.CREATE, Step.SET, Step.TEST):
        world.run(step)
    world.store.promote("secret", token=TOKEN, from_version=CURRENT_VERSION)

    result = world.run(Step.FINISH, old_password_policy="keep")

    assert (result.outcome, result.old_password) == ("already_current", "kept")
    assert len(world.users.passwords) == 2


@pytest.mark.parametrize("step", [Step.CREATE, Step.SET, Step.TEST])
def test_token_already_current_is_nothing_to_do(world: World, step: Step) -> None:
    world.rotate()
    updates = list(world.users.updates)

    assert world.run(step).outcome == "nothing_to_do"
    assert world.users.updates == updates


def test_guard_refuses_when_rotation_is_disabled(world: World) -> None:
    world.store.rotation_enabled = False
    with pytest.raises(errors.RotationDisabledError, match="not enabled"):
        world.run(Step.CREATE)
    assert world.store.writes == []


def test_guard_refuses_a_token_that_is_not_staged(world: World) -> None:
    other = "11111111-2222-4333-8444-555555555555"
    with pytest.raises(errors.TokenNotStagedError, match=other):
        world.rotator().handle(request(Step.CREATE, token=other), invocation())
    assert world.store.writes == []


def test_guard_refuses_a_token_that_is_not_pending(world: World) -> None:
    world.store.versions[TOKEN] = [AWSPREVIOUS]
    with pytest.raises(errors.TokenNotPendingError, match="not AWSPENDING"):
        world.run(Step.SET)
    assert world.users.updates == []


REFUSALS = [
    ("default user", {"username": "default", "user_arn": None}, {}, errors.UserRefusedError),
    ("outside allow-list", {}, {"allowed_users": frozenset({"other"})}, errors.UserRefusedError),
    (
        "user_arn of another user",
        {"user_arn": "arn:aws:memorydb:us-east-1:123456789012:user/other"},
        {},
        errors.SecretFormatError,
    ),
    (
        "user_arn of another account",
        {"user_arn": "arn:aws:memorydb:us-east-1:999999999999:user/app-user"},
        {},
        errors.UserRefusedError,
    ),
    ("host not an endpoint", {"host": "attacker.example.com"}, {}, errors.EndpointRefusedError),
    ("port not the endpoint's", {"port": 6380}, {}, errors.EndpointRefusedError),
    ("ssl off", {"ssl": False}, {}, errors.EndpointRefusedError),
    ("host is a URL", {"host": "rediss://u:Secret-pw@h.example"}, {}, errors.SecretFormatError),
    (
        "host with a NUL",
        {"host": "cluster.example.internal\x00.evil"},
        {},
        errors.SecretFormatError,
    ),
    ("host link-local", {"host": "169.254.169.254"}, {}, errors.EndpointRefusedError),
    (
        "current password MemoryDB refuses",
        {"password": "Has-an-at-sign@0123456789"},
        {},
        errors.InvalidPasswordError,
    ),
    (
        "wrong current password",
        {"password": "Not-the-password-0123456789"},
        {},
        errors.CurrentPasswordRejectedError,
    ),
]


@pytest.mark.parametrize(
    ("document", "settings", "error"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
@pytest.mark.parametrize("step", [Step.CREATE, Step.SET])
def test_refusals_happen_before_any_write(
    world: World,
    step: Step,
    document: dict[str, Any],
    settings: dict[str, Any],
    error: type[Exception],
) -> None:
    world.store.values[CURRENT_VERSION] = json.dumps(secret_document(**document))
    if step is Step.SET:
        world.store.values[TOKEN] = json.dumps(
            secret_document(**{**document, "password": "Pending-password-0123456789"})
        )

    with pytest.raises(error) as raised:
        world.run(step, **settings)

    assert world.users.writes == 0
    assert world.store.writes == []
    assert world.verifier.hosts == [] or error is errors.CurrentPasswordRejectedError
    for raw in ("Pending-password", OLD_PASSWORD, "Secret-pw", "attacker", "169.254"):
        assert raw not in str(raised.value)


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ({"auth_type": "iam"}, errors.UserRefusedError),
        ({"auth_type": "no-password"}, errors.UserRefusedError),
        ({"exists": False}, errors.UserNotFoundError),
    ],
    ids=["iam user", "no-password user", "missing user"],
)
def test_users_without_a_password_slot_are_refused(
    world: World, setup: dict[str, object], error: type[Exception]
) -> None:
    for name, value in setup.items():
        setattr(world.users, name, value)
    with pytest.raises(error):
        world.run(Step.CREATE)
    assert world.store.writes == []


def test_set_refuses_a_pending_version_for_another_user(world: World) -> None:
    world.store.values[TOKEN] = json.dumps(
        secret_document(
            username="other",
            user_arn="arn:aws:memorydb:us-east-1:123456789012:user/other",
            password="Pending-password-0123456789",
        )
    )
    with pytest.raises(errors.UserRefusedError, match="different user"):
        world.run(Step.SET)
    assert world.users.updates == []


def test_set_refuses_a_pending_password_memorydb_would_refuse(world: World) -> None:
    world.store.values[TOKEN] = json.dumps(secret_document(password="short"))
    with pytest.raises(errors.InvalidPasswordError):
        world.run(Step.SET)
    assert world.users.updates == []


def test_set_without_create_reports_the_missing_value(world: World) -> None:
    with pytest.raises(errors.SecretValueNotFoundError, match="AWSPENDING"):
        world.run(Step.SET)


def test_three_rotations_in_a_row_never_hold_more_than_two(world: World) -> None:
    seen = []
    for round_ in range(3):
        token = f"00000000-0000-4000-8000-00000000000{round_}"
        current = next(v for v, s in world.store.versions.items() if AWSCURRENT in s)
        for stages in world.store.versions.values():
            if AWSPENDING in stages:
                stages.remove(AWSPENDING)
        world.store.versions[token] = [AWSPENDING]
        for step in Step:
            world.rotator().handle(request(step, token=token), invocation())
        seen.append(world.store.password(token))
        assert world.store.versions[token] == [AWSPENDING, AWSCURRENT]
        assert AWSCURRENT not in world.store.versions[current]
    assert len(set(seen)) == 3
    assert all(len(update) <= 2 for update in world.users.updates)
    assert world.users.passwords == [seen[-1]]


@pytest.mark.parametrize("step", [Step.CREATE, Step.SET, Step.TEST, Step.FINISH])
def test_every_step_refuses_a_pending_version_for_another_user(world: World, step: Step) -> None:
    world.store.values[TOKEN] = json.dumps(
        secret_document(
            username="other",
            user_arn="arn:aws:memorydb:us-east-1:123456789012:user/other",
            password="Pending-password-0123456789",
        )
    )
    with pytest.raises(errors.UserRefusedError, match="different user"):
        world.run(step)
    assert world.users.updates == []
    assert world.store.writes == []


def test_set_replaces_a_password_added_outside_the_rotation(world: World) -> None:
    # Two passwords already, but not the pending one: the count alone does not mean "set".
    world.run(Step.CREATE)
    world.users.passwords = [OLD_PASSWORD, "Hand-added-password-0123456789"]

    assert world.run(Step.SET).outcome == "set"
    assert world.users.passwords == [OLD_PASSWORD, world.store.password(TOKEN)]


def test_finish_retried_never_drops_to_a_password_that_does_not_work(world: World) -> None:
    for step in (Step.CREATE, Step.SET, Step.TEST):
        world.run(step)
    world.store.promote("secret", token=TOKEN, from_version=CURRENT_VERSION)
    # Someone replaced the pair after the label moved: the new password no longer works.
    world.users.passwords = [OLD_PASSWORD, "Outside-password-0123456789"]
    updates = list(world.users.updates)

    with pytest.raises(errors.PendingPasswordRejectedError):
        world.run(Step.FINISH)
    assert world.users.updates == updates


def test_waited_seconds_add_up_over_every_wait_of_a_step(world: World) -> None:
    world.run(Step.CREATE)
    world.users.statuses = ["modifying"] * 3
    world.users.busy_updates = 1  # answers InvalidUserStateFault once, then is modifying again

    result = world.run(Step.SET)

    assert result.outcome == "set"
    # Three polls before the update, at least one after the busy answer.
    assert len(world.clock.sleeps) >= 4
    assert result.waited_seconds == pytest.approx(sum(world.clock.sleeps))


def test_finish_moves_awscurrent_before_dropping_the_old_password(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for step in (Step.CREATE, Step.SET, Step.TEST):
        world.run(step)
    label_moved_when_set: list[tuple[int, bool]] = []
    set_passwords = world.users.set_passwords

    def observed(user_name: str, passwords: Sequence[SecretStr]) -> None:
        label_moved_when_set.append((len(passwords), AWSCURRENT in world.store.versions[TOKEN]))
        set_passwords(user_name, passwords)

    monkeypatch.setattr(world.users, "set_passwords", observed)

    world.run(Step.FINISH)

    assert label_moved_when_set == [(1, True)]


def test_finish_retried_refuses_a_user_no_longer_allowed(world: World) -> None:
    for step in (Step.CREATE, Step.SET, Step.TEST):
        world.run(step)
    world.store.promote("secret", token=TOKEN, from_version=CURRENT_VERSION)
    updates = list(world.users.updates)

    with pytest.raises(errors.UserRefusedError, match="ROTATION_ALLOWED_USERS"):
        world.run(Step.FINISH, allowed_users=frozenset({"other"}))
    assert world.users.updates == updates


def test_a_pending_label_moved_after_the_guard_is_not_followed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.run(Step.CREATE)
    seen_by_the_guard = world.store.describe(SECRET_ARN)
    # Another rotation moved AWSPENDING to its own version between the guard and the read.
    other = "99999999-0000-4000-8000-000000000009"
    world.store.versions[TOKEN].remove(AWSPENDING)
    world.store.versions[other] = [AWSPENDING]
    world.store.values[other] = json.dumps(secret_document(password="Other-rotation-0123456789"))
    monkeypatch.setattr(world.store, "describe", lambda _secret_id: seen_by_the_guard)

    with pytest.raises(errors.SecretValueNotFoundError):
        world.run(Step.SET)
    assert world.users.updates == []


def test_set_with_a_pending_password_equal_to_the_current_sends_it_once(world: World) -> None:
    world.store.values[TOKEN] = world.store.values[CURRENT_VERSION]
    world.users.passwords = [OLD_PASSWORD, "Hand-added-password-0123456789"]

    assert world.run(Step.SET).outcome == "set"
    assert world.users.updates == [[OLD_PASSWORD]]


@pytest.mark.parametrize("step", list(Step))
def test_a_late_retry_after_secrets_manager_cleared_awspending_changes_nothing(
    world: World, step: Step
) -> None:
    world.rotate()
    world.store.versions[TOKEN].remove(AWSPENDING)  # Secrets Manager's own end of rotation
    updates, writes = list(world.users.updates), list(world.store.writes)

    assert world.run(step).outcome in ("nothing_to_do", "already_current")
    assert (world.users.updates, world.store.writes) == (updates, writes)


def test_a_late_finish_of_an_earlier_rotation_keeps_the_next_ones_pending_password(
    world: World,
) -> None:
    """Rotation N finished; N+1 ran createSecret and setSecret; Secrets Manager then retries N's
    finishSecret. The user's set is [current, N+1's pending]: dropping to [current] would make
    N+1's testSecret fail."""
    world.rotate()
    world.store.versions[TOKEN].remove(AWSPENDING)  # Secrets Manager's clean-up after success
    following = "1" * 8 + "-1111-4111-8111-111111111111"
    world.store.versions[following] = [AWSPENDING]
    for step in (Step.CREATE, Step.SET):
        world.rotator().handle(request(step, token=following), invocation())
    held = list(world.users.passwords)

    late = world.run(Step.FINISH)

    assert (late.outcome, late.old_password, late.kept_because) == (
        "already_current",
        "kept",
        "rotation_in_progress",
    )
    assert world.users.passwords == held
    proven = world.rotator().handle(request(Step.TEST, token=following), invocation())
    assert proven.outcome == "proven"


def test_finish_refuses_when_no_version_is_awscurrent(world: World) -> None:
    for step in (Step.CREATE, Step.SET, Step.TEST):
        world.run(step)
    world.store.versions[CURRENT_VERSION].remove(AWSCURRENT)  # a label removed by hand

    with pytest.raises(errors.SecretValueNotFoundError, match="no AWSCURRENT version"):
        world.run(Step.FINISH)
    assert world.store.writes == ["PutSecretValue"]
