"""examples/clients/secret.py: how the recipes read the rotated secret (moto's Secrets Manager
made strict; the rotations are the function's own)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import boto3
import pytest
from aws_secretsmanager_caching import SecretCache, SecretCacheConfig

from examples.clients.secret import CA_BUNDLE_ENV, AwsCurrentSecret, SecretFormatError, ca_bundle
from rotation.handler import lambda_handler
from sandbox import Sandbox
from sandbox.sandbox import REGION

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

pytestmark = pytest.mark.integration


class NoForcedRefresh(SecretCache):  # type: ignore[misc]
    """AWS's caching client, refusing refresh_secret_now() (it sleeps 2.5-5 s first)."""

    def refresh_secret_now(self, secret_id: str) -> bool:
        raise AssertionError("the recipes must not call refresh_secret_now()")


def _client() -> SecretsManagerClient:
    return boto3.client("secretsmanager", region_name=REGION)


def test_the_reread_value_serves_until_the_cache_would_have_refreshed(sandbox: Sandbox) -> None:
    password = sandbox.create_user("app-user")
    arn = sandbox.create_secret("app-user", password)
    now = {"t": 0.0}
    cache = NoForcedRefresh(SecretCacheConfig(secret_refresh_interval=3600), client=_client())
    secret = AwsCurrentSecret(
        arn,
        secrets_client=_client(),
        cache=cache,
        cache_refresh_seconds=60,
        clock=lambda: now["t"],
    )
    assert secret.credentials().password == password
    assert sandbox.driver(lambda_handler).rotate(arn).succeeded

    assert secret.credentials().password == password  # cached: stale now
    new = secret.reread().password
    assert new == sandbox.view(arn).password("AWSCURRENT")
    assert new != password
    assert secret.credentials().password == new
    assert secret.rereads == 1
    now["t"] = 61.0
    assert secret.credentials().password == password  # the cache's own (stale) value again


def test_a_secret_that_refuses_tls_or_is_not_json_is_refused_without_its_value(
    sandbox: Sandbox,
) -> None:
    password = sandbox.create_user("app-user")
    plain = sandbox.create_secret(
        "app-user",
        password,
        name="plain",
        document=sandbox.secret_document("app-user", password) | {"ssl": False},
    )
    broken = sandbox.create_secret("app-user", password, name="broken", secret_string=password)

    with pytest.raises(SecretFormatError, match="refusing plaintext"):
        AwsCurrentSecret(plain, secrets_client=_client()).endpoint()
    with pytest.raises(SecretFormatError) as raised:
        AwsCurrentSecret(broken, secrets_client=_client()).credentials()
    assert password not in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None
    assert json.dumps(password) not in repr(AwsCurrentSecret(broken, secrets_client=_client()))


def test_the_ca_bundle_is_the_argument_else_the_environment_else_the_system_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(CA_BUNDLE_ENV, raising=False)
    assert ca_bundle() is None
    monkeypatch.setenv(CA_BUNDLE_ENV, "/env/ca.pem")
    assert ca_bundle() == "/env/ca.pem"
    assert ca_bundle("/given/ca.pem") == "/given/ca.pem"
