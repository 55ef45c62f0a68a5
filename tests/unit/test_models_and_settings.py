"""Parsing the event, the secret and the settings: clear errors that never echo a value."""

from __future__ import annotations

import json
import string
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from rotation import errors, passwords
from rotation.errors import (
    BadEventError,
    InvalidPasswordError,
    SecretFormatError,
    SettingsError,
    is_permanent,
)
from rotation.models import Credentials, RotationRequest, Step
from rotation.settings import ENV_VARS, Settings
from tests.conftest import load_event
from tests.unit.chains import secrets_in_chain
from tests.unit.fakes import OLD_PASSWORD, secret_document

# -- the event ---------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [s.value for s in Step])
def test_sample_events_parse(step: str) -> None:
    request = RotationRequest.from_event(load_event(step))
    assert request.step.value == step
    assert request.secret_id.startswith("arn:aws:secretsmanager:")


def test_rotation_token_is_kept_secret() -> None:
    event = {**load_event("createSecret"), "RotationToken": "very-secret-rotation-token"}
    request = RotationRequest.from_event(event)
    assert request.rotation_token is not None
    assert "very-secret-rotation-token" not in repr(request)
    assert "very-secret-rotation-token" not in str(request.model_dump())


@pytest.mark.parametrize(
    ("event", "names"),
    [
        ({"Step": "deleteSecret"}, "Step"),
        ({"ClientRequestToken": "short"}, "ClientRequestToken"),
        ({"SecretId": ""}, "SecretId"),
    ],
)
def test_bad_events_name_the_field(event: dict[str, str], names: str) -> None:
    with pytest.raises(BadEventError, match=names):
        RotationRequest.from_event({**load_event("setSecret"), **event})


@pytest.mark.parametrize(
    "change",
    [
        {"Step": "deleteSecret"},
        {"ClientRequestToken": "short"},
        {"RotationToken": ["very-secret-rotation-token"]},
        {"SecretId": ""},
    ],
)
def test_a_bad_event_keeps_no_rotation_token_in_its_chain(change: dict[str, object]) -> None:
    event = {**load_event("setSecret"), "RotationToken": "very-secret-rotation-token", **change}
    with pytest.raises(BadEventError) as raised:
        RotationRequest.from_event(event)
    assert secrets_in_chain(raised.value, "very-secret-rotation-token") == []


def test_the_chain_check_finds_a_suppressed_context() -> None:
    """The check itself: the pattern the parser used to have is caught."""
    try:
        try:
            json.loads("not json " + OLD_PASSWORD)
        except ValueError:
            raise SecretFormatError("the secret value is not JSON") from None
    except SecretFormatError as exc:
        caught = exc
    assert secrets_in_chain(caught, OLD_PASSWORD) == ["JSONDecodeError holds a secret"]


def test_event_that_is_not_an_object() -> None:
    with pytest.raises(BadEventError, match="not a JSON object"):
        RotationRequest.from_event(["createSecret"])


# -- the secret --------------------------------------------------------------------------------


def test_credentials_defaults_and_repr() -> None:
    creds = Credentials.parse(json.dumps({"username": "app-user", "password": OLD_PASSWORD}))
    assert (creds.port, creds.ssl, creds.host, creds.user_arn) == (6379, True, None, None)
    assert OLD_PASSWORD not in repr(creds)
    assert OLD_PASSWORD not in str(creds)


def test_with_password_replaces_only_the_password() -> None:
    document = secret_document()
    creds = Credentials.parse(json.dumps(document))
    new = json.loads(creds.with_password(SecretStr("New-password-0123456789")))
    assert new == {**document, "password": "New-password-0123456789"}
    assert list(new) == list(document)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not json " + OLD_PASSWORD, "not JSON"),
        (json.dumps([OLD_PASSWORD]), "not a JSON object"),
        (json.dumps({"password": OLD_PASSWORD}), "'username' is missing"),
        (json.dumps({"username": "app-user"}), "'password' is missing"),
        (json.dumps(secret_document(port=70000)), "'port' is invalid"),
        (json.dumps(secret_document(port="6379")), "'port' is invalid"),
        (json.dumps(secret_document(ssl="false")), "'ssl' is invalid"),
        (json.dumps(secret_document(username="app\nuser")), "'username' is invalid"),
        (json.dumps(secret_document(username="ädmin")), "'username' is invalid"),
        (json.dumps(secret_document(user_arn="arn:aws:iam::1:user/x")), "not a MemoryDB user"),
        ("x" * 70_000, "larger than"),
        ('{"username": "app-user", "password": "' + OLD_PASSWORD + '", "x": NaN}', "not JSON"),
        (
            '{"username": "app-user", "password": "' + OLD_PASSWORD + '", "username": "b"}',
            "repeats",
        ),
        ("[" * 20_000 + OLD_PASSWORD, "nested too deeply"),
        (json.dumps(secret_document(host="http://" + OLD_PASSWORD)), "'host' is invalid"),
        (json.dumps(secret_document(host="x" * 300 + OLD_PASSWORD)), "'host' is invalid"),
        (json.dumps(secret_document(port=OLD_PASSWORD)), "'port' is invalid"),
        (json.dumps(secret_document(ssl=OLD_PASSWORD)), "'ssl' is invalid"),
        (json.dumps(secret_document(username=OLD_PASSWORD)), "'username' is invalid"),
        (json.dumps(secret_document(user_arn=OLD_PASSWORD)), "not a MemoryDB user"),
        (json.dumps(secret_document(password="")), "'password' is invalid"),
    ],
)
def test_bad_secrets_are_refused_without_echoing_them(text: str, match: str) -> None:
    with pytest.raises(SecretFormatError, match=match) as raised:
        Credentials.parse(text)
    assert OLD_PASSWORD not in str(raised.value)
    # Not in the message, and not anywhere in the chain either: suppressed context is still kept.
    assert secrets_in_chain(raised.value, OLD_PASSWORD) == []


# -- the settings ------------------------------------------------------------------------------


def test_settings_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.old_password_policy == "drop"
    assert settings.password_length == 32
    assert settings.allowed_users is None
    assert settings.tracing_enabled is False


def test_allowed_users_are_split_and_trimmed() -> None:
    settings = Settings.from_env({"ROTATION_ALLOWED_USERS": " app-user, reports ,,"})
    assert settings.allowed_users == frozenset({"app-user", "reports"})


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"OLD_PASSWORD_POLICY": "forget"}, "OLD_PASSWORD_POLICY"),
        ({"PASSWORD_LENGTH": "12"}, "PASSWORD_LENGTH"),
        ({"PASSWORD_LENGTH": "129"}, "PASSWORD_LENGTH"),
        ({"WAIT_TIMEOUT_SECONDS": "0"}, "WAIT_TIMEOUT_SECONDS"),
        ({"WAIT_TIMEOUT_SECONDS": "900"}, "WAIT_TIMEOUT_SECONDS"),
        ({"CONNECT_TIMEOUT_SECONDS": "soon"}, "CONNECT_TIMEOUT_SECONDS"),
        ({"CA_BUNDLE_PATH": "/no/such/bundle.pem"}, "CA_BUNDLE_PATH"),
        ({"ROTATION_ALLOWED_USERS": "app-user,default"}, "ROTATION_ALLOWED_USERS"),
        ({"TRACING_ENABLED": "maybe"}, "TRACING_ENABLED"),
        (
            {"WAIT_INITIAL_INTERVAL_SECONDS": "10", "WAIT_MAX_INTERVAL_SECONDS": "1"},
            "WAIT_INITIAL_INTERVAL_SECONDS",
        ),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable) as raised:
        Settings.from_env(env)
    for value in env.values():
        if len(value) > 4:
            assert value not in str(raised.value)


def test_every_env_var_is_a_settings_field() -> None:
    aliases = {field.alias for field in Settings.model_fields.values()}
    assert aliases == set(ENV_VARS)


@pytest.mark.parametrize(
    "content",
    ["", "-----BEGIN CERTIFICATE-----\n", "not a certificate\n"],
    ids=["empty", "truncated", "not PEM"],
)
def test_ca_bundle_path_must_hold_certificates(tmp_path: Path, content: str) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text(content)
    with pytest.raises(SettingsError, match=r"CA_BUNDLE_PATH: .*not a PEM bundle"):
        Settings.from_env({"CA_BUNDLE_PATH": str(bundle)})


def test_a_real_ca_bundle_is_accepted(tmp_path: Path) -> None:
    import trustme

    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    assert Settings.from_env({"CA_BUNDLE_PATH": str(bundle)}).ca_bundle_path == bundle


@pytest.mark.parametrize("value", [" , ", ",,,", "   "])
def test_an_allow_list_naming_no_user_is_an_error(value: str) -> None:
    with pytest.raises(SettingsError, match=r"ROTATION_ALLOWED_USERS: .*names no user"):
        Settings.from_env({"ROTATION_ALLOWED_USERS": value})


# -- passwords ---------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [16, 32, 128])
def test_generated_passwords_follow_memorydb_rules(length: int) -> None:
    seen = set()
    for _ in range(50):
        password = passwords.generate(length)
        passwords.validate(password)
        value = password.get_secret_value()
        assert len(value) == length
        assert set(value) <= set(passwords.ALPHABET)
        seen.add(value)
    assert len(seen) == 50


@pytest.mark.parametrize(
    "missing",
    ["lowercase", "uppercase", "digit", "punctuation"],
)
def test_generator_redraws_a_password_missing_a_character_class(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    complete = "aB3!" * 4
    lacking = {
        "lowercase": "AB3!" * 4,
        "uppercase": "ab3!" * 4,
        "digit": "aBc!" * 4,
        "punctuation": "aB3c" * 4,
    }[missing]
    draws = iter(lacking + complete)
    monkeypatch.setattr(passwords, "secrets", SimpleNamespace(choice=lambda _alphabet: next(draws)))

    assert passwords.generate(16).get_secret_value() == complete


@pytest.mark.parametrize(
    "bad",
    [
        "short-password",
        "x" * 129,
        "has,comma-0123456789",
        'has"quote-0123456789',
        "has/slash-0123456789",
        "has@at-0123456789abc",
        "has space-0123456789",
        "tab\t-0123456789abcd",
        "ünïcode-0123456789abc",
    ],
)
def test_passwords_memorydb_refuses_are_refused(bad: str) -> None:
    with pytest.raises(InvalidPasswordError) as raised:
        passwords.validate(SecretStr(bad))
    assert bad not in str(raised.value)


def test_alphabet_has_no_forbidden_character() -> None:
    assert not set(passwords.ALPHABET) & set(",\"/@ \\'`")
    assert set(string.ascii_letters + string.digits) <= set(passwords.ALPHABET)


def test_a_host_given_as_null_is_no_host() -> None:
    assert Credentials.parse(json.dumps(secret_document(host=None) | {"host": None})).host is None


def test_settings_take_a_set_of_users_as_given_and_an_empty_bundle_as_unset() -> None:
    settings = Settings.model_validate({"ROTATION_ALLOWED_USERS": ["a-user", "b-user"]})
    assert settings.allowed_users == frozenset({"a-user", "b-user"})
    assert Settings.from_env({"CA_BUNDLE_PATH": ""}).ca_bundle_path is None


def test_refusals_are_permanent_and_the_rest_worth_a_retry() -> None:
    """The contract rotation/errors.py states, which the command line relies on."""
    assert is_permanent(errors.UserRefusedError("x"))
    assert is_permanent(errors.SecretFormatError("x"))
    assert is_permanent(errors.CurrentPasswordRejectedError("x"))
    assert not is_permanent(errors.UserBusyError("x"))
    assert not is_permanent(errors.ClaimContestedError("x"))
    assert not is_permanent(errors.NodeNotReadyError("x"))
    assert not is_permanent(errors.PendingPasswordRejectedError("x"))
    assert not is_permanent(ValueError("x"))
