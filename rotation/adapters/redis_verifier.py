"""CredentialVerifier over the cluster's data plane: AUTH username password, then PING.

TLS verifies the certificate and the host name against CA_BUNDLE_PATH or the system store; there
is no fallback to plaintext. redis is imported on first use so steps that never talk to the
cluster do not pay for it at cold start.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from rotation.errors import ClusterUnreachableError
from rotation.models import Endpoint


class RedisVerifier:
    def __init__(self, *, ca_bundle: Path | None = None, timeout_seconds: float = 5.0) -> None:
        self._ca_bundle = ca_bundle
        self._timeout = timeout_seconds

    def authenticates(self, endpoint: Endpoint, username: str, password: SecretStr) -> bool:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # Built inside the try: a single-connection client connects (and AUTHs) on creation.
        client: redis.Redis | None = None
        try:
            client = redis.Redis(
                host=endpoint.host,
                port=endpoint.port,
                username=username,
                password=password.get_secret_value(),
                ssl=endpoint.tls,
                ssl_cert_reqs="required",
                ssl_check_hostname=True,
                ssl_ca_certs=str(self._ca_bundle) if self._ca_bundle else None,
                socket_connect_timeout=self._timeout,
                socket_timeout=self._timeout,
                # One attempt: a failed step is retried by Secrets Manager, not hidden here.
                retry=Retry(NoBackoff(), 0),
                single_connection_client=True,
                # RESP2: `AUTH username password` then PING, which every MemoryDB engine speaks.
                protocol=2,
            )
            return bool(client.ping())
        except redis.AuthenticationError:
            return False
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


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "TLS certificate did not verify"
    if "timed out" in text.lower() or "Timeout" in type(exc).__name__:
        return "timed out"
    if "refused" in text.lower():
        return "connection refused"
    return type(exc).__name__
