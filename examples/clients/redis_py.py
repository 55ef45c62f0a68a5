"""redis-py's RedisCluster for a MemoryDB user whose password this project rotates.

    from examples.clients.redis_py import connect

    client = connect("arn:aws:secretsmanager:eu-west-1:123456789012:secret:memorydb/app-user")
    client.set("greeting", "hello")

- Cluster mode: MemoryDB always runs as a Redis Cluster, and a key on another shard answers
  `MOVED`; RedisCluster follows it, starting from the secret's `host` and `port` (the cluster
  endpoint).
- TLS with verification by host name, against the system store or the CA file given as
  `ca_bundle=` or in $MEMORYDB_CA_BUNDLE.
- `SecretCredentialProvider` is a redis-py `CredentialProvider`: redis-py asks it for
  (username, password) on every new connection to any node, so a rotated password reaches the
  next connection without a new client.
- When AUTH fails on any node (`redis.AuthenticationError`, raised before the command was sent),
  `RereadingRedisCluster` re-reads AWSCURRENT once past the cache and runs the command again on
  the same client. A second refusal is raised.
- A RedisCluster does not retry an AUTH failure itself (its cluster-level retry is for
  connection errors of exactly those types), so the re-read follows one refusal.

Pipelines do not go through `execute_command`: wrap them with
`client.call_with_reread(lambda c: c.pipeline().set(...).execute())`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import redis
from redis.credentials import CredentialProvider

from examples.clients.secret import DEFAULT_CACHE_REFRESH_SECONDS, AwsCurrentSecret, ca_bundle

if TYPE_CHECKING:
    from aws_secretsmanager_caching import SecretCache
    from mypy_boto3_secretsmanager import SecretsManagerClient

T = TypeVar("T")


class SecretCredentialProvider(CredentialProvider):
    """(username, password) of AWSCURRENT, asked for by every new connection."""

    def __init__(self, secret: AwsCurrentSecret) -> None:
        self.secret = secret
        self.asked = 0

    def get_credentials(self) -> tuple[str, str]:
        self.asked += 1
        credentials = self.secret.credentials()
        return credentials.username, credentials.password


def auth_refused(error: BaseException) -> bool:
    """An AUTH refusal, raised as such or as the cause of a failed topology refresh (which
    RedisCluster reports as RedisClusterException 'cannot be connected')."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, redis.AuthenticationError):
            return True
        seen = seen.__cause__
    return False


class RereadingRedisCluster(redis.RedisCluster):
    """A RedisCluster whose commands re-read the credentials and run again once when a node
    refuses the password."""

    def __init__(self, provider: SecretCredentialProvider, **kwargs: Any) -> None:
        self.provider = provider
        self.retries = 0
        """Commands run a second time after a refusal (for tests and metrics)."""
        super().__init__(credential_provider=provider, **kwargs)

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return self.call_with_reread(
            lambda client: redis.RedisCluster.execute_command(client, *args, **kwargs)  # type: ignore[no-untyped-call]
        )

    def call_with_reread(self, command: Callable[[RereadingRedisCluster], T]) -> T:
        try:
            return command(self)
        except (redis.AuthenticationError, redis.RedisClusterException) as error:
            if not auth_refused(error):
                raise
        # Outside the `except`: the refused connection's error would ride along as context.
        # The password we hold was refused: AWSCURRENT has moved on. Read it, try once more.
        self.provider.secret.reread()
        self.retries += 1
        return command(self)


def connect(
    secret_id: str,
    *,
    secrets_client: SecretsManagerClient | None = None,
    ca_bundle_path: str | None = None,
    cache: SecretCache | None = None,
    cache_refresh_seconds: float = DEFAULT_CACHE_REFRESH_SECONDS,
    **cluster_options: Any,
) -> RereadingRedisCluster:
    """A cluster client for the cluster the secret names, as the secret's user."""
    secret = AwsCurrentSecret(
        secret_id,
        secrets_client=secrets_client,
        cache=cache,
        cache_refresh_seconds=cache_refresh_seconds,
    )
    endpoint = secret.endpoint()
    options: dict[str, Any] = {
        "host": endpoint.host,
        "port": endpoint.port,
        "ssl": True,
        "ssl_check_hostname": True,
        "ssl_ca_certs": ca_bundle(ca_bundle_path),
    }
    options.update(cluster_options)
    return RereadingRedisCluster(SecretCredentialProvider(secret), **options)
