"""Unit tests have no network: tests/conftest.py marks every test here `disable_socket`, and
pytest-socket then refuses any socket a test opens, so a unit test that reaches for the network
fails instead of quietly depending on it."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketBlockedError

# pytest-socket also warns at each refusal; here the refusal is the point.
pytestmark = pytest.mark.filterwarnings("ignore:A test tried to use socket:UserWarning")


def test_a_unit_test_cannot_open_an_internet_socket() -> None:
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_nor_connect_to_a_local_server() -> None:
    with pytest.raises(SocketBlockedError):
        socket.create_connection(("127.0.0.1", 6379), timeout=1)


def test_nor_open_a_unix_socket() -> None:
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)


def test_a_redis_client_is_refused_before_it_reaches_a_server() -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1)
    # Refused at the name lookup, before any connection: not a closed port's refusal.
    with pytest.raises(SocketBlockedError, match="getaddrinfo"):
        client.ping()
