"""A redis-py client for a MemoryDB user whose password this project rotates.

    from examples.redis_credentials import connect

    client = connect("arn:aws:secretsmanager:...:secret:memorydb/app-user-AbCdEf")
    client.set("key", "value")

What it does, and why:

- `AwsCurrentCredentialProvider` is a redis-py `CredentialProvider`: redis-py asks it for
  (username, password) on every new connection, so a rotated password is picked up by the next
  connection without restarting anything. It reads AWSCURRENT through AWS's caching client
  (`aws_secretsmanager_caching.SecretCache`) when you pass one, or with GetSecretValue each time.
- On an AUTH failure (`redis.AuthenticationError`) `RereadingRedis` re-reads AWSCURRENT once,
  straight from Secrets Manager, and retries the command once. A cached password goes stale
  when a rotation drops the old password before the cache refreshes (OLD_PASSWORD_POLICY=drop,
  or drop-after with a grace shorter than the cache's refresh): one failed AUTH, one re-read,
  and the command goes through.
- redis-py's default client retries a failed AUTH 10 times over about 4 s (AuthenticationError
  is a ConnectionError, which its default `Retry` retries with backoff) before raising, each time
  with the same stale password. `NoAuthRetry` keeps redis-py's retries for timeouts and dropped
  connections but lets an AUTH failure through at once, so the re-read happens after one refusal.
- The re-read does not use `SecretCache.refresh_secret_now()`: it sleeps 2.5-5 s (jittered)
  before it refreshes. The provider reads AWSCURRENT with the boto3 client instead and uses that
  value until the cache's own refresh interval has passed (by then the cache holds it too).

Pipelines and pub/sub do not go through `execute_command`: wrap them yourself
(`client.call_with_reread(lambda c: c.pipeline()...execute())`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.credentials import CredentialProvider
from redis.retry import Retry

if TYPE_CHECKING:
    from aws_secretsmanager_caching import SecretCache
    from mypy_boto3_secretsmanager import SecretsManagerClient

T = TypeVar("T")

AWSCURRENT = "AWSCURRENT"
# SecretCacheConfig's default `secret_refresh_interval`.
DEFAULT_CACHE_REFRESH_SECONDS = 3600.0


class AwsCurrentCredentialProvider(CredentialProvider):
    """(username, password) of the secret's AWSCURRENT version, for each new connection."""

    def __init__(
        self,
        secret_id: str,
        *,
        client: SecretsManagerClient | None = None,
        cache: SecretCache | None = None,
        cache_refresh_seconds: float = DEFAULT_CACHE_REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret_id = secret_id
        self._client = client
        self._cache = cache
        self._cache_refresh = cache_refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._fresh: tuple[str, float] | None = None
        self.reads = 0
        """How many times AWSCURRENT was read past the cache (for tests and metrics)."""

    @property
    def client(self) -> SecretsManagerClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        return self._client

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self._secret_string())
        return document

    def get_credentials(self) -> tuple[str, str]:
        document = self.document()
        return str(document["username"]), str(document["password"])

    def reread(self) -> None:
        """Read AWSCURRENT now, past the cache; used until the cache has refreshed by itself.
        Without a cache every connection reads AWSCURRENT anyway: nothing to do."""
        if self._cache is None:
            return
        value = self._read_current()
        with self._lock:
            self._fresh = (value, self._clock() + self._cache_refresh)

    def _read_current(self) -> str:
        response = self.client.get_secret_value(SecretId=self.secret_id, VersionStage=AWSCURRENT)
        with self._lock:
            self.reads += 1
        return response["SecretString"]

    def _secret_string(self) -> str:
        with self._lock:
            fresh = self._fresh
            if fresh is not None and self._clock() >= fresh[1]:
                self._fresh = fresh = None
        if fresh is not None:
            return fresh[0]
        if self._cache is not None:
            return str(self._cache.get_secret_string(self.secret_id))
        return self._read_current()


class NoAuthRetry(Retry):
    """redis-py's Retry, except that an AUTH failure is raised at once, not retried."""

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        def retryable(error: Exception) -> bool:
            if isinstance(error, redis.AuthenticationError):
                return False
            return is_retryable is None or is_retryable(error)

        return super().call_with_retry(do, fail, retryable, with_failure_count)


class RereadingRedis(redis.Redis):
    """A redis.Redis whose commands re-read the credentials and retry once on an AUTH failure."""

    def __init__(self, provider: AwsCurrentCredentialProvider, **kwargs: Any) -> None:
        kwargs.setdefault("retry", NoAuthRetry(ExponentialWithJitterBackoff(base=0.01, cap=1), 3))
        super().__init__(credential_provider=provider, **kwargs)
        self.provider = provider

    def execute_command(self, *args: Any, **options: Any) -> Any:
        return self.call_with_reread(
            lambda client: redis.Redis.execute_command(client, *args, **options)  # type: ignore[no-untyped-call]
        )

    def call_with_reread(self, command: Callable[[RereadingRedis], T]) -> T:
        try:
            return command(self)
        except redis.AuthenticationError:
            # The password we hold was refused: AWSCURRENT has moved on. Read it and try once
            # more; a second refusal is a real problem and is raised.
            self.provider.reread()
            return command(self)


def connect(
    secret_id: str,
    *,
    client: SecretsManagerClient | None = None,
    cache: SecretCache | None = None,
    cache_refresh_seconds: float = DEFAULT_CACHE_REFRESH_SECONDS,
    **redis_options: Any,
) -> RereadingRedis:
    """A client for the cluster the secret names (`host`, `port`, `ssl`), as its user."""
    provider = AwsCurrentCredentialProvider(
        secret_id, client=client, cache=cache, cache_refresh_seconds=cache_refresh_seconds
    )
    document = provider.document()
    options: dict[str, Any] = {
        "host": document["host"],
        "port": int(document.get("port", 6379)),
        "ssl": bool(document.get("ssl", True)),
    }
    options.update(redis_options)
    return RereadingRedis(provider, **options)
