"""Fleet mode: ROTATION_USER_TAG=key=value lets one deployment serve every user carrying the tag.

The tag is read from the same ListTags answer as the owner (one read per step), and a user
without it is refused before the step's first write, in every step and in the scheduled drop.
"""

from __future__ import annotations

from typing import Any

import pytest

from rotation import errors
from rotation.models import AWSCURRENT, DropOldPasswordEvent, KeptBecause, Outcome, Step
from rotation.settings import ENV_VARS, Settings
from tests.unit.conftest import World, invocation
from tests.unit.fakes import CURRENT_VERSION, SECRET_ARN, TOKEN

FLEET = ("team", "payments")


def _writes(world: World) -> tuple[int, list[str]]:
    return world.users.writes, list(world.store.writes)


# -- the setting --------------------------------------------------------------------------------


def test_the_setting_is_read_from_its_variable() -> None:
    assert "ROTATION_USER_TAG" in ENV_VARS
    assert Settings.from_env({}).user_tag is None
    assert Settings.from_env({"ROTATION_USER_TAG": "team=payments"}).user_tag == FLEET
    # Only the first '=' separates: a value may hold one, a key may not.
    assert Settings.from_env({"ROTATION_USER_TAG": "k=a=b"}).user_tag == ("k", "a=b")
    assert Settings.from_env({"ROTATION_USER_TAG": "rotate="}).user_tag == ("rotate", "")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("team", "must be key=value"),
        ("", "must be key=value"),
        ("=payments", "the key must be"),
        ("aws:cloudformation:stack-name=x", "not starting with 'aws:'"),
        ("memorydb-rotation:secret=x", "writes those tags itself"),
        ("memorydb-rotation:claim:1=x", "writes those tags itself"),
        ("team=pay,ments", "the value must be"),
        ("t" * 129 + "=x", "the key must be"),
    ],
)
def test_a_tag_that_cannot_scope_users_is_refused_naming_the_variable(
    value: str, says: str
) -> None:
    with pytest.raises(errors.SettingsError, match=f"ROTATION_USER_TAG: .*{says}") as caught:
        Settings.from_env({"ROTATION_USER_TAG": value})
    assert "pay,ments" not in str(caught.value)


def test_the_tag_and_the_allow_list_may_both_be_set() -> None:
    settings = Settings.from_env(
        {"ROTATION_USER_TAG": "team=payments", "ROTATION_ALLOWED_USERS": "app-user"}
    )
    assert settings.user_tag == FLEET
    assert settings.allowed_users == frozenset({"app-user"})


# -- the check -----------------------------------------------------------------------------------


def test_a_tagged_user_is_rotated_with_one_tag_read_per_step(world: World) -> None:
    world.users.user_tags = {"team": "payments", "cost-centre": "42"}

    results = world.rotate(user_tag=FLEET)

    assert [r.outcome for r in results] == [
        Outcome.CREATED,
        Outcome.SET,
        Outcome.PROVEN,
        Outcome.PROMOTED,
    ]
    assert world.users.tag_reads == len(Step)


@pytest.mark.parametrize("step", list(Step))
@pytest.mark.parametrize(
    "tags",
    [{}, {"team": "reporting"}, {"Team": "payments"}, {"team": "payments "}],
    ids=["untagged", "another value", "key case differs", "value differs by a space"],
)
def test_a_user_without_the_tag_is_refused_before_the_first_write(
    world: World, step: Step, tags: dict[str, str]
) -> None:
    world.users.user_tags = {"team": "payments"}
    for earlier in list(Step)[: list(Step).index(step)]:
        world.run(earlier, user_tag=FLEET)
    world.users.user_tags = tags
    before = _writes(world)

    with pytest.raises(errors.UserRefusedError, match=r"team=payments.*ROTATION_USER_TAG") as err:
        world.run(step, user_tag=FLEET)

    assert _writes(world) == before
    assert AWSCURRENT in world.store.versions[CURRENT_VERSION]
    assert "app-user" in str(err.value)


@pytest.mark.parametrize(
    ("tags", "allowed", "refused_by"),
    [
        ({"team": "payments"}, frozenset({"other"}), "ROTATION_ALLOWED_USERS"),
        ({}, frozenset({"app-user"}), "ROTATION_USER_TAG"),
    ],
)
def test_with_both_set_a_user_must_pass_both(
    world: World, tags: dict[str, str], allowed: frozenset[str], refused_by: str
) -> None:
    world.users.user_tags = tags

    with pytest.raises(errors.UserRefusedError, match=refused_by):
        world.run(Step.CREATE, user_tag=FLEET, allowed_users=allowed)
    assert _writes(world) == (0, [])


def test_the_tag_is_checked_before_the_owner(world: World) -> None:
    """An untagged user is out of this deployment's reach whoever owns it."""
    world.users.owner_arn = SECRET_ARN + "-other"

    with pytest.raises(errors.UserRefusedError, match="ROTATION_USER_TAG"):
        world.run(Step.CREATE, user_tag=FLEET)


def test_the_scheduled_drop_declines_for_a_user_that_lost_the_tag(world: World) -> None:
    settings: dict[str, Any] = {"user_tag": FLEET, "old_password_policy": "keep"}
    world.users.user_tags = {"team": "payments"}
    world.rotate(**settings)
    world.users.user_tags = {}
    before = _writes(world)

    result = world.rotator(**{**settings, "old_password_policy": "drop"}).drop_old_password(
        DropOldPasswordEvent.for_rotation(SECRET_ARN, TOKEN), invocation()
    )

    assert result.outcome is Outcome.GRACE_OVER
    assert result.kept_because is KeptBecause.USER_REFUSED
    assert "ROTATION_USER_TAG" in result.reason
    assert _writes(world) == before


def test_a_tag_given_as_a_pair_is_taken_as_it_is() -> None:
    """The model also takes the parsed form (a copy of settings, a test): only text is split."""
    settings = Settings.model_validate({"ROTATION_USER_TAG": ("team", "payments")})
    assert settings.user_tag == ("team", "payments")
