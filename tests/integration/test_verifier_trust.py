"""CA_BUNDLE_PATH replaces the system store: a server the system store trusts is still refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from rotation import errors
from rotation.adapters.redis_verifier import RedisVerifier
from rotation.models import Endpoint
from sandbox.redis_server import RedisServer
from sandbox.tls import TestAuthority, independent_tls_files

PW1 = "First-password-0123456789abcdef"


def test_a_bundle_excludes_what_the_system_store_trusts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = independent_tls_files(tmp_path / "public")
    # OpenSSL reads its default store from SSL_CERT_FILE: here the "public" CA is in it, as a
    # public CA is in the system store on Lambda.
    monkeypatch.setenv("SSL_CERT_FILE", str(public.ca_cert))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    private = TestAuthority(tmp_path / "private")

    with RedisServer(tls=public) as server:
        server.apply_user("app-user", "on ~* +@all", [PW1])
        endpoint = Endpoint("localhost", server.port)
        # Without a bundle the system store decides, and it trusts this server.
        assert RedisVerifier(timeout_seconds=2).authenticates(endpoint, "app-user", SecretStr(PW1))
        with pytest.raises(errors.ClusterUnreachableError, match="did not verify"):
            RedisVerifier(ca_bundle=private.ca_cert, timeout_seconds=2).authenticates(
                endpoint, "app-user", SecretStr(PW1)
            )
