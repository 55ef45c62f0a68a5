"""CredentialVerifier over a node's data plane: a TLS connection and `AUTH username password`.

The AUTH reply itself is the proof: redis-py's handshake raises AuthenticationError unless the
server answers OK, so no later command is sent (a least-privilege user may not run PING, and a
NOPERM on it proved nothing about the password). Passwords travel only over TLS that verifies
the certificate and the host name; there is no plaintext path.

Trust: with CA_BUNDLE_PATH set, that bundle is the ONLY trust (a publicly trusted certificate for
another server does not pass); unset, the system store. The TLS context is built once per
container and shared by every connection: redis-py builds one per connection, and loading the CA
store into it was half the CPU of a whole rotation (40-50 ms per connection on a full core). redis
is imported on first use so steps that never talk to a cluster do not pay for it at cold start.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from rotation.errors import ClusterUnreachableError
from rotation.models import Endpoint

if TYPE_CHECKING:
    import ssl


class RedisVerifier:
    def __init__(self, *, ca_bundle: Path | None = None, timeout_seconds: float = 5.0) -> None:
        self._ca_bundle = ca_bundle
        self.timeout_seconds = timeout_seconds
        self._lock = threading.Lock()
        self._connection_class: type[Any] | None = None

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name verified; only the bundle's CAs when a bundle is set."""
        import ssl

        cafile = str(self._ca_bundle) if self._ca_bundle is not None else None
        # create_default_context loads the system store only when no cafile is given.
        context = ssl.create_default_context(cafile=cafile)
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _connection(self) -> type[Any]:
        # Nodes are proven from a thread pool: build the shared context once, under a lock.
        with self._lock:
            if self._connection_class is None:
                self._connection_class = _shared_context_connection(self.tls_context())
            return self._connection_class

    def authenticates(self, endpoint: Endpoint, username: str, password: SecretStr) -> bool:
        """True when the node answers OK to AUTH; False when it refuses the credentials."""
        if not endpoint.tls:
            raise ClusterUnreachableError(
                f"{endpoint} does not use TLS: a password is never sent in clear",
                reason="no TLS",
            )
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        connection = self._connection()(
            host=endpoint.host,
            port=endpoint.port,
            username=username,
            password=password.get_secret_value(),
            socket_connect_timeout=self.timeout_seconds,
            socket_timeout=self.timeout_seconds,
            # One attempt: a failed step is retried by Secrets Manager, not hidden here.
            retry=Retry(NoBackoff(), 0),
            # RESP2 `AUTH username password`, which every MemoryDB engine speaks; nothing after
            # it (no CLIENT SETINFO: the user may not be allowed it, and it proves nothing).
            protocol=2,
            driver_info=None,
        )
        try:
            connection.connect()
        except redis.AuthenticationError:
            return False
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            reason = _reason(exc)
        else:
            return True
        finally:
            connection.disconnect()
        # Raised outside the `except`: the original error keeps the connection, which holds
        # the password.
        raise ClusterUnreachableError(f"cannot reach {endpoint} over TLS ({reason})", reason=reason)


def _shared_context_connection(context: ssl.SSLContext) -> type[Any]:
    """redis-py's SSLConnection wrapping its socket with `context` instead of a new one.

    If a redis-py release stops calling `_wrap_socket_with_ssl`, it builds its own context per
    connection again from its ssl_* options, which are set to the same verification here: slower,
    never weaker. `ssl_ca_certs` alone would ADD the bundle to the system store, so the shared
    context is what makes the bundle the only trust.
    """
    from redis.connection import SSLConnection

    class SharedContextSSLConnection(SSLConnection):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(ssl_cert_reqs="required", ssl_check_hostname=True, **kwargs)

        def _wrap_socket_with_ssl(self, sock: Any) -> Any:
            return context.wrap_socket(sock, server_hostname=self.host)

    return SharedContextSSLConnection


# X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH (OpenSSL's x509_vfy.h).
_NAME_MISMATCH = frozenset({62, 64})


@cache
def _reasons() -> tuple[tuple[type[BaseException], str], ...]:
    """Most specific first: SSLCertVerificationError is an SSLError, and both are OSErrors.
    Built on first failure: ssl and socket stay out of the cold start."""
    import socket
    import ssl

    return (
        (ssl.SSLCertVerificationError, "TLS certificate did not verify"),
        (ssl.SSLError, "TLS handshake failed"),
        (socket.timeout, "timed out"),
        (TimeoutError, "timed out"),
        (ConnectionRefusedError, "connection refused"),
        (socket.gaierror, "name does not resolve"),
    )


def _reason(exc: BaseException) -> str:
    """The cause by exception type, walking redis-py's wrapping to the socket or TLS error."""
    import ssl

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) and seen.verify_code in _NAME_MISMATCH:
            return "TLS certificate is not for this host name"
        for kind, reason in _reasons():
            if isinstance(seen, kind):
                return reason
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__
