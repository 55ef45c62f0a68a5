"""Every node MemoryDB names, and the refusals that come before a step's first write."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from rotation import errors
from rotation.models import AWSCURRENT, AWSPENDING, AWSPREVIOUS, Credentials, Step
from tests.unit.conftest import World
from tests.unit.fakes import (
    CURRENT_VERSION,
    OLD_PASSWORD,
    SECRET_ARN,
    TOKEN,
    cluster,
    secret_document,
)

NODE_1 = "c1-0001-001.example.internal"
NODE_2 = "c1-0002-001.example.internal"


def _writes(world: World) -> tuple[int, list[str]]:
    return world.users.writes, list(world.store.writes)


# -- every node ---------------------------------------------------------------------------------


def test_every_node_of_every_cluster_is_asked(world: World) -> None:
    world.users.clusters = [cluster("c1", 3), cluster("c2", 2, host="other.example.internal")]

    results = world.rotate()

    assert results[-1].clusters == ("c1", "c2")
    assert results[-1].nodes == 5
    asked = set(world.verifier.hosts)
    assert asked == {n.endpoint.host for c in world.users.clusters for n in c.nodes}
    # The secret's host (a configuration endpoint) is checked, never connected to.
    assert "cluster.example.internal" not in asked


def test_a_lagging_replica_is_polled_until_it_accepts(world: World) -> None:
    world.run(Step.CREATE)
    world.run(Step.SET)
    world.verifier.stale[NODE_2] = [OLD_PASSWORD]
    asks = {"n": 0}
    original = world.verifier.authenticates

    def catch_up(endpoint: Any, username: str, password: Any) -> bool:
        if endpoint.host == NODE_2:
            asks["n"] += 1
            if asks["n"] == 4:
                del world.verifier.stale[NODE_2]
        return original(endpoint, username, password)

    world.verifier.authenticates = catch_up  # type: ignore[method-assign]

    assert world.run(Step.TEST).outcome == "proven"
    assert asks["n"] >= 4
    assert world.clock.sleeps, "the poll backs off between rounds"


def test_a_replica_that_never_catches_up_is_named_and_never_promoted(world: World) -> None:
    world.run(Step.CREATE)
    world.run(Step.SET)
    world.verifier.stale[NODE_2] = [OLD_PASSWORD]

    with pytest.raises(errors.PendingPasswordRejectedError, match="refused on c1/c1-0002-001"):
        world.run(Step.TEST, wait_timeout_seconds=5)
    with pytest.raises(errors.PendingPasswordRejectedError, match="c1-0002-001"):
        world.run(Step.FINISH)

    assert AWSCURRENT in world.store.versions[CURRENT_VERSION]
    assert sum(world.clock.sleeps) <= 5 + 1e-9


def test_a_down_node_stops_the_rotation_before_finish(world: World) -> None:
    world.run(Step.CREATE)
    world.run(Step.SET)
    world.verifier.down.add(NODE_1)

    with pytest.raises(errors.ClusterUnreachableError, match=r"c1/c1-0001-001 \(timed out\)"):
        world.run(Step.TEST, wait_timeout_seconds=2)
    with pytest.raises(errors.ClusterUnreachableError):
        world.run(Step.FINISH)

    assert AWSCURRENT in world.store.versions[CURRENT_VERSION]
    assert OLD_PASSWORD in world.users.passwords


def test_a_user_on_no_cluster_is_refused_before_any_write(world: World) -> None:
    world.users.clusters = []

    with pytest.raises(errors.NoClusterError):
        world.run(Step.CREATE)
    assert _writes(world) == (0, [])


# -- states ------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [Step.CREATE, Step.SET, Step.FINISH])
@pytest.mark.parametrize(
    ("setup", "error", "says"),
    [
        ({"statuses": ["deleting"]}, errors.UserNotFoundError, "being deleted"),
        ({"access_string": "off ~* +@all"}, errors.UserRefusedError, "is disabled"),
        ({"owner_arn": SECRET_ARN + "-other"}, errors.UserOwnedElsewhereError, "-other"),
    ],
    ids=["deleting", "disabled", "owned by another secret"],
)
def test_user_states_are_refused_before_the_first_write(
    world: World, step: Step, setup: dict[str, Any], error: type[Exception], says: str
) -> None:
    if step is not Step.CREATE:
        world.run(Step.CREATE)
    if step is Step.FINISH:
        world.run(Step.SET)
    before = _writes(world)
    for name, value in setup.items():
        setattr(world.users, name, copy.copy(value))  # the fake consumes statuses

    with pytest.raises(error, match=says):
        world.run(step)
    assert _writes(world) == before
    assert AWSCURRENT in world.store.versions[CURRENT_VERSION]


def test_the_first_rotation_claims_the_user_for_its_secret(world: World) -> None:
    world.rotate()
    world.rotate()

    assert world.users.claims == [SECRET_ARN]


def test_a_user_removed_from_the_allow_list_before_finish_is_not_written(world: World) -> None:
    world.run(Step.CREATE)
    world.run(Step.SET)
    world.run(Step.TEST)
    before = _writes(world)

    with pytest.raises(errors.UserRefusedError, match="ROTATION_ALLOWED_USERS"):
        world.run(Step.FINISH, allowed_users=frozenset({"someone-else"}))
    assert _writes(world) == before


def test_a_pending_version_that_is_also_previous_is_refused(world: World) -> None:
    world.store.versions[TOKEN] = [AWSPENDING, AWSPREVIOUS]

    with pytest.raises(errors.TokenNotPendingError, match="AWSPREVIOUS"):
        world.run(Step.CREATE)
    assert _writes(world) == (0, [])


# -- busy user ---------------------------------------------------------------------------------


def test_a_busy_user_that_looks_active_is_retried_with_backoff_within_the_budget(
    world: World,
) -> None:
    world.run(Step.CREATE)
    calls = {"n": 0}

    def always_busy(user_name: str, passwords: Any) -> None:
        calls["n"] += 1
        raise errors.UserBusyError("busy")

    world.users.set_passwords = always_busy  # type: ignore[method-assign]

    with pytest.raises(errors.WaitTimeoutError, match="busy"):
        world.run(Step.SET, wait_timeout_seconds=3)
    # Backoff from 0.5 s: a handful of attempts in 3 s, not thousands.
    assert 2 <= calls["n"] <= 8
    assert all(pause > 0 for pause in world.clock.sleeps)
    assert sum(world.clock.sleeps) <= 3 + 1e-9


# -- the pending copy --------------------------------------------------------------------------


def test_the_pending_copy_keeps_every_other_byte(world: World) -> None:
    text = (
        '{"username": "app-user", "password": "' + OLD_PASSWORD + '", '
        '"host": "cluster.example.internal", "port": 6379, "ssl": true, '
        '"big": 1e999, "precise": 3.14159265358979323846264338327950288, '
        '"note": "prix 12 €", "nested": {"b": [1, 2.50]}}'
    )
    world.store.values[CURRENT_VERSION] = text

    world.run(Step.CREATE)

    pending = world.store.values[TOKEN]
    new = world.store.password(TOKEN)
    assert pending == text.replace(OLD_PASSWORD, new)


def test_non_ascii_text_is_not_escaped_into_a_larger_copy(world: World) -> None:
    # 11,000 euro signs are 33 kB of UTF-8; escaped as \u20ac they would be 66 kB, over the limit.
    text = json.dumps(secret_document(note="€" * 11_000), ensure_ascii=False)
    world.store.values[CURRENT_VERSION] = text

    world.run(Step.CREATE)

    assert len(world.store.values[TOKEN].encode()) == len(text.encode()) + 32 - len(OLD_PASSWORD)


def test_a_current_value_over_the_size_limit_is_refused_before_writing(world: World) -> None:
    document = secret_document(note="€" * 22_000)
    world.store.values[CURRENT_VERSION] = json.dumps(document, ensure_ascii=False)

    with pytest.raises(errors.SecretFormatError, match="larger than Secrets Manager allows"):
        world.run(Step.CREATE)
    assert world.store.writes == []


def test_a_copy_that_would_grow_past_the_limit_is_refused_before_writing(world: World) -> None:
    text = json.dumps(secret_document(password="Short-password-123"))
    text = text[:-1] + ', "padding": "' + "x" * (65_536 - len(text) - 16) + '"}'
    world.store.values[CURRENT_VERSION] = text
    world.users.passwords = ["Short-password-123"]

    with pytest.raises(errors.SecretFormatError, match="over Secrets Manager's 65536-byte limit"):
        world.run(Step.CREATE, password_length=64)
    assert world.store.writes == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[" * 3000 + "]" * 3000, "nested too deeply"),
        ('{"username": "a", "password": NaN}', "not JSON"),
        ('{"username": "a", "username": "b", "password": "x"}', "repeats a key"),
    ],
    ids=["deep nesting", "NaN", "duplicate key"],
)
def test_documents_no_strict_parser_would_read_alike_are_refused(text: str, says: str) -> None:
    with pytest.raises(errors.SecretFormatError, match=says):
        Credentials.parse(text)


def test_an_edit_to_current_after_create_is_refused_not_lost(world: World) -> None:
    world.run(Step.CREATE)
    edited = secret_document(owner="team-b", added="yes")
    world.store.values[CURRENT_VERSION] = json.dumps(edited)

    for step in (Step.SET, Step.TEST, Step.FINISH):
        with pytest.raises(errors.SecretChangedError, match="'added', 'owner'"):
            world.run(step)
    assert world.users.updates == []
    assert "team-b" not in json.dumps(world.store.document(TOKEN))
