"""The rotated secret as a client reads it: AWSCURRENT through AWS's caching library, and once
past the cache when a node refuses the password it gave (shared by the recipes beside it).

Copy this module with the recipe you use. It reads through `aws_secretsmanager_caching.SecretCache`
(refresh every hour by default, jittered between half and all of it). `reread()` does not call
`SecretCache.refresh_secret_now()`, which sleeps 2.5-5 s first: it calls GetSecretValue
(VersionStage=AWSCURRENT) itself and serves that value until the cache's own refresh interval has
passed, by when the cache holds it too.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_secretsmanager_caching import SecretCache
    from mypy_boto3_secretsmanager import SecretsManagerClient

AWSCURRENT = "AWSCURRENT"
CA_BUNDLE_ENV = "MEMORYDB_CA_BUNDLE"
"""A PEM file of CAs to trust instead of the system store (the sandbox's test CA, say)."""
# SecretCacheConfig's default `secret_refresh_interval`.
DEFAULT_CACHE_REFRESH_SECONDS = 3600.0


class SecretFormatError(ValueError):
    """The secret is not the documented JSON (its value is never in the message)."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


class AwsCurrentSecret:
    """AWSCURRENT of one secret: credentials for each new connection, re-read on demand."""

    def __init__(
        self,
        secret_id: str,
        *,
        secrets_client: SecretsManagerClient | None = None,
        cache: SecretCache | None = None,
        cache_refresh_seconds: float = DEFAULT_CACHE_REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`cache` defaults to a SecretCache over `secrets_client`; pass the one your
        application already has (and its refresh interval) to share it."""
        import boto3
        from aws_secretsmanager_caching import SecretCache, SecretCacheConfig

        self.secret_id = secret_id
        self._client = secrets_client or boto3.client("secretsmanager")
        self._cache = cache or SecretCache(
            SecretCacheConfig(secret_refresh_interval=cache_refresh_seconds), client=self._client
        )
        self._cache_refresh = cache_refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._fresh: tuple[str, float] | None = None
        self.rereads = 0
        """GetSecretValue calls made past the cache (for tests and metrics)."""

    def __repr__(self) -> str:
        return f"AwsCurrentSecret({self.secret_id!r})"

    def credentials(self) -> Credentials:
        document = self._document()
        username, password = document.get("username"), document.get("password")
        if not isinstance(username, str) or not isinstance(password, str) or not password:
            raise SecretFormatError(f"{self.secret_id}: `username` and `password` must be set")
        return Credentials(username, password)

    def endpoint(self) -> Endpoint:
        """`host` and `port` of the secret; refuses a secret that says `ssl: false`: a MemoryDB
        cluster with password users always speaks TLS, and a password is never sent in clear."""
        document = self._document()
        host, port = document.get("host"), document.get("port", 6379)
        if not isinstance(host, str) or not host or not isinstance(port, int):
            raise SecretFormatError(f"{self.secret_id}: `host` and `port` must be set")
        if document.get("ssl", True) is not True:
            raise SecretFormatError(f"{self.secret_id}: `ssl` is not true; refusing plaintext")
        return Endpoint(host, port)

    def reread(self) -> Credentials:
        """AWSCURRENT now, past the cache: called once after a node refused our password."""
        response = self._client.get_secret_value(SecretId=self.secret_id, VersionStage=AWSCURRENT)
        with self._lock:
            self.rereads += 1
            self._fresh = (response["SecretString"], self._clock() + self._cache_refresh)
        return self.credentials()

    def _document(self) -> dict[str, Any]:
        with self._lock:
            fresh = self._fresh
            if fresh is not None and self._clock() >= fresh[1]:
                self._fresh = fresh = None
        text = fresh[0] if fresh is not None else str(self._cache.get_secret_string(self.secret_id))
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            # Not chained: the decoder's error quotes the text, which holds the password.
            raise SecretFormatError(f"{self.secret_id}: the secret is not a JSON object")
        return document


def ca_bundle(explicit: str | None = None) -> str | None:
    """The CA file to trust: the argument, else $MEMORYDB_CA_BUNDLE, else None (the system
    store, which holds the CAs of MemoryDB's certificates)."""
    return explicit or os.environ.get(CA_BUNDLE_ENV) or None
