"""Integration fixtures: the sandbox (moto made strict + a real redis-server) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.tls import TlsFiles, make_tls_files


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="session")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A second, unrelated CA: a client trusting only it must refuse the sandbox's server."""
    return make_tls_files(Path(tmp_path_factory.mktemp("other-tls")), name="other")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(propagation_delay=0.05) as box:
        yield box


@pytest.fixture
def tls_sandbox(tls_files: TlsFiles) -> Iterator[Sandbox]:
    with Sandbox(tls_files=tls_files, propagation_delay=0.05) as box:
        yield box
