"""Throw-away certificate authorities and server certificates for TLS tests, made with trustme.

MemoryDB's certificates name host names, never addresses, and clients verify the name: so the
sandbox's nodes listen on 127.0.0.1, are reached as `LOCALHOST` (NODE_HOST), and present a
certificate for `localhost` only (no IP address in it). `other_name_tls_files` and
`independent_tls_files` make the two certificates the negative tests need: a right CA with the
wrong name, and the right name from a CA the function must not trust.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_NAME = "localhost"
OTHER_NAME = "not-this-node.example"
NODE_HOST = "LOCALHOST"
"""How the sandbox's cluster nodes are named: the certificate's name in another case. Host names
match case-insensitively (in /etc/hosts and in TLS verification), but redis-py's `ClusterNode`
turns the exact string `localhost` into 127.0.0.1 before it connects (redis/cluster.py), and a
certificate naming `localhost` does not verify for an address. A real MemoryDB endpoint is never
`localhost`; the spelling only keeps the sandbox verifying by name for every client."""


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    """The CA bundle that verifies `server_cert` (what CA_BUNDLE_PATH names)."""
    server_cert: Path
    server_key: Path


class TestAuthority:
    """One test CA; it can issue more server certificates into the same directory."""

    __test__ = False  # pytest: not a test class

    def __init__(self, directory: Path, *, name: str = "sandbox") -> None:
        self.directory = directory
        self.name = name
        self._ca = trustme.CA(organization_name=f"{name} test CA")
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_cert = directory / f"{name}-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_cert))

    def issue(self, host: str = SERVER_NAME, *, label: str = "server") -> TlsFiles:
        """A server certificate and key for `host` alone, signed by this CA."""
        leaf = self._ca.issue_cert(host)
        files = TlsFiles(
            ca_cert=self.ca_cert,
            server_cert=self.directory / f"{self.name}-{label}.pem",
            server_key=self.directory / f"{self.name}-{label}.key",
        )
        # The leaf and any intermediates (none from a root CA).
        files.server_cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        files.server_key.write_bytes(leaf.private_key_pem.bytes())
        files.server_key.chmod(0o600)
        return files


def make_tls_files(directory: Path, *, name: str = "sandbox") -> TlsFiles:
    """A fresh CA and a server certificate for `localhost` signed by it."""
    return TestAuthority(directory, name=name).issue()


def other_name_tls_files(authority: TestAuthority, host: str = OTHER_NAME) -> TlsFiles:
    """A certificate from the trusted CA for another name: host-name verification must fail."""
    return authority.issue(host, label="other-name")


def independent_tls_files(directory: Path, *, name: str = "independent") -> TlsFiles:
    """A second CA, unrelated to the sandbox's, and a `localhost` certificate from it: trusted
    by whoever trusts that CA (as the system store trusts public CAs), never by the sandbox's
    bundle."""
    return make_tls_files(directory, name=name)
