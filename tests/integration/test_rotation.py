"""Whole rotations through the Lambda handler, on the sandbox, checked on the real data plane."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import botocore.handlers
import pytest

from rotation.handler import lambda_handler
from sandbox import Sandbox
from sandbox.driver import STEPS

USER = "app-user"


def _setup(sandbox: Sandbox, **extra: Any) -> tuple[str, str]:
    password = sandbox.create_user(USER)
    return sandbox.create_secret(USER, password, **extra), password


def test_three_rotations_in_a_row(sandbox: Sandbox) -> None:
    arn, first = _setup(sandbox)
    driver = sandbox.driver(lambda_handler)
    history = [first]

    for _ in range(3):
        outcome = driver.rotate(arn)
        assert outcome.succeeded, outcome.last_error
        view = sandbox.view(arn)
        current = view.password("AWSCURRENT")
        assert current is not None
        assert current not in history
        assert view.version_with("AWSCURRENT") == outcome.token
        assert view.version_with("AWSPENDING") is None
        assert sandbox.password_count(USER) == 1
        sandbox.settle()
        assert sandbox.authenticates(USER, current)
        assert not sandbox.authenticates(USER, history[-1])
        history.append(current)

    assert sandbox.most_passwords_held(USER) == 2
    # Other keys of the document survive every rotation unchanged.
    document = sandbox.view(arn).values[outcome.token]
    assert document["host"] == sandbox.redis.host
    assert document["user_arn"] == sandbox.user_arn(USER)


def test_each_step_invoked_twice(sandbox: Sandbox) -> None:
    arn, first = _setup(sandbox)
    driver = sandbox.driver(lambda_handler)
    token = str(uuid.uuid4())
    sandbox.stage_pending(arn, token)

    for step in STEPS:
        driver.invoke(arn, step, token)
        driver.invoke(arn, step, token)

    view = sandbox.view(arn)
    assert view.version_with("AWSCURRENT") == token
    new = view.password("AWSCURRENT")
    assert new is not None
    sandbox.settle()
    assert sandbox.authenticates(USER, new)
    assert not sandbox.authenticates(USER, first)
    # setSecret's second run found the set already in place: two updates in all, not three.
    assert sandbox.calls().count("UpdateUser") == 2
    assert sandbox.calls().count("PutSecretValue") == 1


def test_keep_policy_leaves_both_passwords_working(sandbox: Sandbox) -> None:
    arn, first = _setup(sandbox)
    sandbox.configure_function(OLD_PASSWORD_POLICY="keep")

    outcome = sandbox.driver(lambda_handler).rotate(arn)

    assert outcome.succeeded, outcome.last_error
    sandbox.settle()
    new = sandbox.view(arn).password("AWSCURRENT")
    assert new is not None
    assert sandbox.authenticates(USER, first)
    assert sandbox.authenticates(USER, new)
    assert sandbox.password_count(USER) == 2

    second = sandbox.driver(lambda_handler).rotate(arn)
    assert second.succeeded, second.last_error
    sandbox.settle()
    assert not sandbox.authenticates(USER, first)
    assert sandbox.password_count(USER) == 2


def test_password_that_never_reached_the_data_plane_fails_test_secret(
    sandbox: Sandbox,
) -> None:
    arn, first = _setup(sandbox)
    sandbox.lose_next_propagation(USER)
    # testSecret asks again until its time runs out: a replica may lag behind `active`.
    sandbox.configure_function(WAIT_TIMEOUT_SECONDS="1")

    outcome = sandbox.driver(lambda_handler).rotate(arn)

    assert not outcome.succeeded
    assert outcome.failed_step == "testSecret"
    assert outcome.last_error is not None
    assert outcome.last_error.error_type == "PendingPasswordRejectedError"
    view = sandbox.view(arn)
    assert view.password("AWSCURRENT") == first
    assert view.version_with("AWSPENDING") == outcome.token
    assert sandbox.authenticates(USER, first)


def test_unreachable_cluster_fails_test_secret(sandbox: Sandbox) -> None:
    arn, first = _setup(sandbox)
    driver = sandbox.driver(lambda_handler)
    token = str(uuid.uuid4())
    sandbox.stage_pending(arn, token)
    driver.invoke(arn, "createSecret", token)
    driver.invoke(arn, "setSecret", token)
    sandbox.redis.stop()

    sandbox.configure_function(WAIT_TIMEOUT_SECONDS="1")
    with pytest.raises(Exception, match=r"could not be proven .*connection refused") as raised:
        driver.invoke(arn, "testSecret", token)

    assert type(raised.value).__name__ == "ClusterUnreachableError"
    assert sandbox.view(arn).password("AWSCURRENT") == first


def test_user_busy_modifying_at_the_start(sandbox: Sandbox) -> None:
    arn, first = _setup(sandbox)
    sandbox.hold_modifying(USER, 0.3)

    outcome = sandbox.driver(lambda_handler).rotate(arn)

    assert outcome.succeeded, outcome.last_error
    assert all(a.ok for a in outcome.attempts)
    sandbox.settle()
    assert sandbox.authenticates(USER, sandbox.view(arn).password("AWSCURRENT") or "")
    assert not sandbox.authenticates(USER, first)


def test_rotate_immediately_false_runs_only_test_secret(sandbox: Sandbox) -> None:
    arn, first = _setup(sandbox)

    outcome = sandbox.driver(lambda_handler).rotate(arn, rotate_immediately=False)

    assert outcome.succeeded, outcome.last_error
    assert [a.step for a in outcome.attempts] == ["testSecret"]
    assert sandbox.calls().count("UpdateUser") == 0
    assert sandbox.authenticates(USER, first)


def test_cross_account_rotation_token_reaches_put_secret_value_only(
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arn, _ = _setup(sandbox)
    rotation_token = "rotation-token-" + uuid.uuid4().hex
    carried: list[str] = []

    def before_call(model: Any, params: dict[str, Any], **_: Any) -> None:
        if rotation_token in json.dumps(params, default=str):
            carried.append(model.name)

    # The function's clients are built on its first invocation, after this: from boto3's default
    # session, or from a session of their own, which registers botocore's built-in handlers.
    # Either way every AWS request the rotation makes passes through `before_call`.
    monkeypatch.setattr(
        botocore.handlers,
        "BUILTIN_HANDLERS",
        [*botocore.handlers.BUILTIN_HANDLERS, ("before-call", before_call)],
    )
    default_session = boto3._get_default_session()
    default_session.events.register("before-call", before_call, unique_id="rotation-token-test")
    try:
        outcome = sandbox.driver(lambda_handler).rotate(arn, rotation_token=rotation_token)
    finally:
        default_session.events.unregister("before-call", unique_id="rotation-token-test")

    assert outcome.succeeded, outcome.last_error
    assert carried == ["PutSecretValue"]
    captured = capsys.readouterr()
    assert rotation_token not in captured.out + captured.err + caplog.text


def test_tls_rotation_verifies_the_cluster_certificate(tls_sandbox: Sandbox) -> None:
    arn, first = _setup(tls_sandbox)

    outcome = tls_sandbox.driver(lambda_handler).rotate(arn)

    assert outcome.succeeded, outcome.last_error
    tls_sandbox.settle()
    new = tls_sandbox.view(arn).password("AWSCURRENT")
    assert new is not None
    assert tls_sandbox.authenticates(USER, new)
    assert not tls_sandbox.authenticates(USER, first)


def test_tls_refuses_a_server_whose_certificate_does_not_verify(
    tls_sandbox: Sandbox, other_ca: object
) -> None:
    arn, first = _setup(tls_sandbox)
    tls_sandbox.configure_function(CA_BUNDLE_PATH=str(other_ca.ca_cert))  # type: ignore[attr-defined]

    outcome = tls_sandbox.driver(lambda_handler).rotate(arn)

    assert not outcome.succeeded
    assert outcome.failed_step == "createSecret"
    assert outcome.last_error is not None
    assert "TLS certificate did not verify" in (outcome.last_error.error or "")
    assert tls_sandbox.calls().count("PutSecretValue") == 0
    assert tls_sandbox.authenticates(USER, first)


def test_a_secret_saying_ssl_false_is_refused_before_any_connection(sandbox: Sandbox) -> None:
    password = sandbox.create_user(USER)
    arn = sandbox.create_secret(USER, password, ssl=False)

    outcome = sandbox.driver(lambda_handler, step_attempts=1).rotate(arn)

    assert not outcome.succeeded
    assert outcome.failed_step == "createSecret"
    assert outcome.last_error is not None
    assert outcome.last_error.error_type == "EndpointRefusedError"
    assert "'ssl' in the secret disagrees" in (outcome.last_error.error or "")
    assert sandbox.calls().count("UpdateUser") == 0


def test_secret_document_keeps_unknown_keys(sandbox: Sandbox) -> None:
    password = sandbox.create_user(USER)
    arn = sandbox.create_secret(USER, password, engine="valkey", dbname=None, team={"a": 1})
    before = sandbox.view(arn).values[sandbox.view(arn).version_with("AWSCURRENT") or ""]

    assert sandbox.driver(lambda_handler).rotate(arn).succeeded
    document = sandbox.view(arn).values[sandbox.view(arn).version_with("AWSCURRENT") or ""]
    assert document["engine"] == "valkey"
    assert document["team"] == {"a": 1}
    assert document["password"] != password
    assert {**document, "password": password} == before
    assert list(document) == list(before)
