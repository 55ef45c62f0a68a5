"""Gaps a mutation pass found in the every-node rotation: the claim on the user, clusters
without TLS, and a refusal next to an unreachable node."""

from __future__ import annotations

import dataclasses
import json

import pytest

from rotation import errors
from rotation.models import AWSCURRENT, Step
from tests.unit.conftest import World
from tests.unit.fakes import CURRENT_VERSION, OLD_PASSWORD, SECRET_ARN, TOKEN, secret_document

NODE_1 = "c1-0001-001.example.internal"
NODE_2 = "c1-0002-001.example.internal"


def test_create_claims_the_user_before_writing_the_pending_version(world: World) -> None:
    world.run(Step.CREATE)

    assert world.users.claims == [SECRET_ARN]


def test_set_claims_a_user_whose_pending_version_it_did_not_create(world: World) -> None:
    # AWSPENDING staged with a value by someone else (or by a version without claims).
    world.store.put_pending(
        SECRET_ARN,
        TOKEN,
        json.dumps(secret_document(password="Pending-password-0123456789")),
        None,
    )

    assert world.run(Step.SET).outcome == "set"
    assert world.users.claims == [SECRET_ARN]


@pytest.mark.parametrize("step", [Step.CREATE, Step.SET, Step.TEST, Step.FINISH])
def test_a_cluster_without_tls_is_refused_before_any_write(world: World, step: Step) -> None:
    if step is not Step.CREATE:
        world.run(Step.CREATE)
    plain = dataclasses.replace(world.users.clusters[0], tls=False)
    world.users.clusters = [plain]
    before = (world.users.writes, list(world.store.writes), len(world.verifier.hosts))

    with pytest.raises(errors.EndpointRefusedError, match="never sent in clear"):
        world.run(step)
    # No write, and no node was asked to check a password.
    assert (world.users.writes, list(world.store.writes), len(world.verifier.hosts)) == before


def test_a_refusal_beside_an_unreachable_node_is_a_password_problem(world: World) -> None:
    world.run(Step.CREATE)
    world.run(Step.SET)
    world.verifier.down.add(NODE_1)
    world.verifier.stale[NODE_2] = [OLD_PASSWORD]

    with pytest.raises(errors.PendingPasswordRejectedError, match="refused on c1/c1-0002-001"):
        world.run(Step.TEST, wait_timeout_seconds=2)
    assert AWSCURRENT in world.store.versions[CURRENT_VERSION]
