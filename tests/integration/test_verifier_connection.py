"""A kept connection knows when it is out of step: over a real socket pair (sockets are for the
integration tests; tests/unit runs without them)."""

from __future__ import annotations

import socket

from rotation.adapters.redis_verifier import _Connection


def test_bytes_left_after_a_reply_put_the_connection_out_of_step() -> None:
    # The first reply arrived whole, the second after it: the verdict stands, and the next AUTH
    # on this connection must not read the leftover as its answer.
    ours, node = socket.socketpair()
    try:
        connection = _Connection(ours)  # type: ignore[arg-type]
        node.sendall(b"+OK\r\n")
        assert connection.auth(b"AUTH")
        assert not connection.stale()
        node.sendall(b"+OK\r\n")
        assert connection.stale()
        node.recv(100)
    finally:
        ours.close()
        node.close()


def test_a_peer_that_closed_leaves_the_connection_stale() -> None:
    ours, node = socket.socketpair()
    try:
        node.close()
        assert _Connection(ours).stale()  # type: ignore[arg-type]
    finally:
        ours.close()
