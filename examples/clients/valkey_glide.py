"""valkey-glide's cluster client (the synchronous `glide_sync`) for a MemoryDB user whose
password this project rotates. valkey-glide is AWS's recommended client for MemoryDB Valkey.

    from examples.clients.valkey_glide import connect

    client = connect("arn:aws:secretsmanager:eu-west-1:123456789012:secret:memorydb/app-user")
    client.set("greeting", "hello")

- Cluster mode (`GlideClusterClient`), seeded with the secret's `host` and `port`; glide follows
  `MOVED` and keeps one connection per node.
- TLS with verification by host name, against the system store (glide's platform verifier) or
  the CA file given as `ca_bundle_path=` or in $MEMORYDB_CA_BUNDLE.
- glide holds one password for the client's life and re-authenticates with it whenever it
  reconnects to a node. After a rotation dropped that password, a reconnect is refused and glide
  answers commands for that node with "Connection in recovery" (a `RequestError` that does not
  say WRONGPASS) until it can authenticate; it says the same while any reconnect is under way.
  So on such an error `RereadingGlideCluster` re-reads AWSCURRENT once; if the password changed
  it hands it to glide with `update_connection_password(..., immediate_auth=False)` (glide's
  call for rotation: later reconnects use it, on the same client object). Then it runs the
  command again, with a bounded backoff (RECOVERY_SECONDS) while glide finishes reconnecting;
  past that the error is raised. The cost: one GetSecretValue per connection error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from glide_shared.config import (
    AdvancedGlideClusterClientConfiguration,
    ServerCredentials,
    TlsAdvancedConfiguration,
)
from glide_shared.exceptions import ConnectionError as GlideConnectionError
from glide_shared.exceptions import RequestError
from glide_sync import GlideClusterClient, GlideClusterClientConfiguration, NodeAddress

from examples.clients.secret import DEFAULT_CACHE_REFRESH_SECONDS, AwsCurrentSecret, ca_bundle

if TYPE_CHECKING:
    from aws_secretsmanager_caching import SecretCache
    from mypy_boto3_secretsmanager import SecretsManagerClient

T = TypeVar("T")

RECOVERY_SECONDS = 5.0
"""How long a command waits for glide to reconnect with the new password before it fails."""


def connection_trouble(error: BaseException) -> bool:
    """What glide raises while a node will not take our password (or cannot be reached)."""
    if isinstance(error, GlideConnectionError):
        return True
    text = str(error)
    return isinstance(error, RequestError) and any(
        marker in text for marker in ("Connection in recovery", "WRONGPASS", "NOAUTH")
    )


class RereadingGlideCluster:
    """A GlideClusterClient whose commands survive a dropped password: every attribute is the
    client's, and each call goes through `call_with_reread`."""

    def __init__(
        self,
        client: GlideClusterClient,
        secret: AwsCurrentSecret,
        password: str,
        *,
        recovery_seconds: float = RECOVERY_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.secret = secret
        self._password = password
        self._recovery = recovery_seconds
        self._sleep = sleep
        self._clock = clock
        self.retries = 0
        """Commands run again after a re-read (for tests and metrics)."""

    def __repr__(self) -> str:
        return f"RereadingGlideCluster({self.secret.secret_id!r})"

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.call_with_reread(lambda client: getattr(client, name)(*args, **kwargs))

        return call

    def call_with_reread(self, command: Callable[[GlideClusterClient], T]) -> T:
        try:
            return command(self.client)
        except (RequestError, GlideConnectionError) as error:
            if not connection_trouble(error):
                raise
        # Outside the `except`, so nothing the failed call carried rides along as context.
        new = self.secret.reread().password
        self.retries += 1
        update: Callable[[], object] | None = None
        if new != self._password:
            self._password = new
            update = lambda: self.client.update_connection_password(new, immediate_auth=False)  # noqa: E731
        # Unchanged: a reconnect (or a node that refuses AWSCURRENT itself, which the bounded
        # wait then raises).
        return self._until_recovered(update, then=command)

    def _until_recovered(
        self, update: Callable[[], object] | None, *, then: Callable[[GlideClusterClient], T]
    ) -> T:
        """The update (if any), then the command, each retried while glide reconnects."""
        deadline = self._clock() + self._recovery
        pause = 0.02
        while True:
            try:
                if update is not None:
                    update()
                    update = None
                return then(self.client)
            except (RequestError, GlideConnectionError) as error:
                if not connection_trouble(error) or self._clock() + pause > deadline:
                    raise
            self._sleep(pause)
            pause = min(pause * 2, 0.5)

    def close(self) -> None:
        self.client.close()


def connect(
    secret_id: str,
    *,
    secrets_client: SecretsManagerClient | None = None,
    ca_bundle_path: str | None = None,
    cache: SecretCache | None = None,
    cache_refresh_seconds: float = DEFAULT_CACHE_REFRESH_SECONDS,
    request_timeout_ms: int = 2000,
) -> RereadingGlideCluster:
    """A glide cluster client for the cluster the secret names, as the secret's user."""
    secret = AwsCurrentSecret(
        secret_id,
        secrets_client=secrets_client,
        cache=cache,
        cache_refresh_seconds=cache_refresh_seconds,
    )
    endpoint = secret.endpoint()
    credentials = secret.credentials()
    bundle = ca_bundle(ca_bundle_path)
    tls = TlsAdvancedConfiguration(
        root_pem_cacerts=None if bundle is None else Path(bundle).read_bytes()
    )
    config = GlideClusterClientConfiguration(
        [NodeAddress(endpoint.host, endpoint.port)],
        use_tls=True,
        credentials=ServerCredentials(credentials.password, credentials.username),
        request_timeout=request_timeout_ms,
        advanced_config=AdvancedGlideClusterClientConfiguration(tls_config=tls),
    )
    return RereadingGlideCluster(GlideClusterClient.create(config), secret, credentials.password)
