"""examples/redis_credentials.py, the client recipe, against the sandbox's real redis-server."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
import redis
from aws_secretsmanager_caching import SecretCache, SecretCacheConfig
from redis.backoff import NoBackoff

from examples.redis_credentials import (
    AwsCurrentCredentialProvider,
    NoAuthRetry,
    RereadingRedis,
    connect,
)
from rotation.handler import lambda_handler
from sandbox import Sandbox
from sandbox.sandbox import REGION

USER = "app-user"


class CountingCache(SecretCache):  # type: ignore[misc]
    """AWS's caching client; refuses refresh_secret_now(), which sleeps 2.5-5 s first."""

    def refresh_secret_now(self, secret_id: str) -> bool:
        raise AssertionError("the recipe must not call refresh_secret_now()")


class Counted(AwsCurrentCredentialProvider):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked = 0

    def get_credentials(self) -> tuple[str, str]:
        self.asked += 1
        return super().get_credentials()


def _secret(sandbox: Sandbox) -> str:
    password = sandbox.create_user(USER)
    return sandbox.create_secret(USER, password)


def _rotate(sandbox: Sandbox, arn: str) -> None:
    outcome = sandbox.driver(lambda_handler).rotate(arn)
    assert outcome.succeeded, outcome.last_error
    sandbox.settle()


def _client() -> Any:
    return boto3.client("secretsmanager", region_name=REGION)


def _tls(sandbox: Sandbox) -> dict[str, Any]:
    """The sandbox's redis-server speaks TLS with a test CA: the client trusts that CA."""
    files = sandbox.tls_files
    if files is None:
        return {}
    return {"ssl": True, "ssl_ca_certs": str(files.ca_cert)}


def test_a_fresh_reader_follows_every_rotation(sandbox: Sandbox) -> None:
    arn = _secret(sandbox)
    client = connect(arn, client=_client(), **_tls(sandbox))

    for _ in range(2):
        assert client.ping()
        _rotate(sandbox, arn)
        client.connection_pool.disconnect()

    assert client.ping()


def test_a_stale_cached_password_costs_one_refusal_and_one_reread(sandbox: Sandbox) -> None:
    arn = _secret(sandbox)
    cache = CountingCache(SecretCacheConfig(secret_refresh_interval=3600), client=_client())
    provider = Counted(arn, client=_client(), cache=cache)
    client = RereadingRedis(
        provider, host=sandbox.redis.host, port=sandbox.redis.port, **_tls(sandbox)
    )
    assert client.set("k", "v")
    _rotate(sandbox, arn)  # OLD_PASSWORD_POLICY=drop: the cached password is dead now
    client.connection_pool.disconnect()
    provider.asked = 0

    assert client.get("k") == b"v"

    assert provider.asked == 2  # the stale password once, then the re-read one: not 11
    assert provider.reads == 1
    client.connection_pool.disconnect()
    assert client.ping()
    assert provider.reads == 1  # the re-read value serves until the cache has refreshed


def test_a_second_refusal_is_raised(sandbox: Sandbox) -> None:
    arn = _secret(sandbox)
    cache = CountingCache(SecretCacheConfig(), client=_client())
    provider = Counted(arn, client=_client(), cache=cache)
    client = RereadingRedis(
        provider, host=sandbox.redis.host, port=sandbox.redis.port, **_tls(sandbox)
    )
    sandbox.redis.apply_user(USER, "on ~* &* +@all", [sandbox.create_user("other")])

    with pytest.raises(redis.AuthenticationError):
        client.ping()
    assert provider.asked == 2


def test_no_auth_retry_lets_an_auth_failure_through_at_once(sandbox: Sandbox) -> None:
    arn = _secret(sandbox)
    cache = CountingCache(SecretCacheConfig(), client=_client())
    provider = Counted(arn, client=_client(), cache=cache)
    provider.get_credentials()  # cached now
    _rotate(sandbox, arn)
    provider.asked = 0
    plain = redis.Redis(
        host=sandbox.redis.host,
        port=sandbox.redis.port,
        credential_provider=provider,
        retry=NoAuthRetry(NoBackoff(), 10),
        **_tls(sandbox),
    )

    with pytest.raises(redis.AuthenticationError):
        plain.ping()
    assert provider.asked == 1


def test_the_reread_value_expires_with_the_cache_interval(sandbox: Sandbox) -> None:
    arn = _secret(sandbox)
    now = {"t": 0.0}
    cache = CountingCache(SecretCacheConfig(secret_refresh_interval=3600), client=_client())
    provider = AwsCurrentCredentialProvider(
        arn, client=_client(), cache=cache, cache_refresh_seconds=60, clock=lambda: now["t"]
    )
    before = provider.get_credentials()
    _rotate(sandbox, arn)
    provider.reread()
    after = provider.get_credentials()
    assert after != before

    now["t"] = 61.0

    assert provider.get_credentials() == before  # the cache's own (stale) value again
