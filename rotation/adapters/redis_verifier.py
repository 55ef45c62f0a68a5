"""CredentialVerifier over the cluster's data plane: AUTH username password, then PING.

TLS verifies the certificate and the host name against CA_BUNDLE_PATH or the system store; there
is no fallback to plaintext. redis is imported on first use so steps that never talk to the
cluster do not pay for it at cold start.

The TLS context is built once per container and shared by every connection: redis-py builds a new
one per connection, and loading the CA store into it was half the CPU of a whole rotation
(40-50 ms per connection on a full core, five connections per rotation; a 128 MB Lambda has about
a fourteenth of a core). The store does not change while the container lives.
"""

from __future__ import annotations

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
        self._timeout = timeout_seconds
        self._tls_context: ssl.SSLContext | None = None
        self._tls_connection: type[Any] | None = None

    def tls_context(self) -> ssl.SSLContext:
        """What redis-py builds per connection (`ssl_cert_reqs="required"`,
        `ssl_check_hostname=True`, the system store plus `ssl_ca_certs`), built once."""
        if self._tls_context is None:
            import ssl

            context = ssl.create_default_context()
            context.check_hostname = True
            context.verify_mode = ssl.CERT_REQUIRED
            if self._ca_bundle is not None:
                context.load_verify_locations(cafile=str(self._ca_bundle))
            self._tls_context = context
        return self._tls_context

    def _tls_options(self) -> dict[str, Any]:
        if self._tls_connection is None:
            self._tls_connection = _shared_context_connection(self.tls_context())
        return {
            "connection_class": self._tls_connection,
            # What redis-py's own context would use, should it ever build one again.
            "ssl_cert_reqs": "required",
            "ssl_check_hostname": True,
            "ssl_ca_certs": str(self._ca_bundle) if self._ca_bundle else None,
        }

    def authenticates(self, endpoint: Endpoint, username: str, password: SecretStr) -> bool:
        import redis
        from redis.backoff import NoBackoff
        from redis.exceptions import NoPermissionError
        from redis.retry import Retry

        # One attempt: a failed step is retried by Secrets Manager, not hidden here.
        no_retry = Retry(NoBackoff(), 0)
        connection: dict[str, Any] = {
            **(self._tls_options() if endpoint.tls else {"connection_class": redis.Connection}),
            "host": endpoint.host,
            "port": endpoint.port,
            "username": username,
            "password": password.get_secret_value(),
            "socket_connect_timeout": self._timeout,
            "socket_timeout": self._timeout,
            "retry": no_retry,
            # RESP2: `AUTH username password` then PING, which every MemoryDB engine speaks.
            "protocol": 2,
        }
        pool = redis.ConnectionPool(**connection)
        # Built inside the try: a single-connection client connects (and AUTHs) on creation.
        client: redis.Redis | None = None
        try:
            client = redis.Redis(
                connection_pool=pool, single_connection_client=True, retry=no_retry
            )
            return bool(client.ping())
        except redis.AuthenticationError:
            return False
        except NoPermissionError:
            # AUTH already succeeded when the client was built; only PING was refused, by a
            # least-privilege access string (e.g. `+get +set`). The password is proven.
            return True
        except redis.ResponseError as exc:
            # Servers answer a bad AUTH with WRONGPASS; treat any AUTH refusal as "no".
            if "WRONGPASS" in str(exc) or "NOAUTH" in str(exc):
                return False
            raise ClusterUnreachableError(
                f"{endpoint.host}:{endpoint.port} answered with an error ({type(exc).__name__})"
            ) from None
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise ClusterUnreachableError(
                f"cannot reach {endpoint.host}:{endpoint.port} over "
                f"{'TLS' if endpoint.tls else 'TCP'} ({_reason(exc)})"
            ) from None
        finally:
            if client is not None:
                client.close()
            pool.disconnect()


def _shared_context_connection(context: ssl.SSLContext) -> type[Any]:
    """redis-py's SSLConnection wrapping its socket with `context` instead of a new one.

    If a redis-py release stops calling `_wrap_socket_with_ssl`, it builds its own context per
    connection again from the same ssl_* options: slower, never weaker.
    """
    from redis.connection import SSLConnection

    class SharedContextSSLConnection(SSLConnection):
        def _wrap_socket_with_ssl(self, sock: Any) -> Any:
            return context.wrap_socket(sock, server_hostname=self.host)

    return SharedContextSSLConnection


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "TLS certificate did not verify"
    if "timed out" in text.lower() or "Timeout" in type(exc).__name__:
        return "timed out"
    if "refused" in text.lower():
        return "connection refused"
    return type(exc).__name__
