"""A TCP proxy on loopback in front of redis-server that can refuse or reset connections.

The secret's `host`/`port` point at the proxy, the oracle talks to redis-server directly. Each
accepted connection gets an index; a planned fault hits one index:
- `refuse`: the connection is accepted and closed at once with RST before any byte is read
  (the client sees ECONNRESET/refused at connect or first read);
- `reset_mid_auth`: the client's first bytes (the TLS ClientHello that opens the way to its
  AUTH) are read, half of them forwarded, then the connection is reset.
The stream is TLS end to end (client to node): the proxy never reads it, so the node's
certificate and host-name check are the ones the function sees in production.
The invariant checks after each data-plane connection run in the rotation's thread (the harness
wraps the verifier), not here, so they never race the rotation.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Literal

DataFault = Literal["refuse", "reset_mid_auth"]


@dataclass
class TcpFaultProxy:
    target_host: str
    target_port: int
    fault: tuple[int, DataFault] | None = None
    connections: int = 0
    faulted: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0
    _listener: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> TcpFaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(64)
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> TcpFaultProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def plan(self, fault: tuple[int, DataFault] | None) -> None:
        with self._lock:
            self.fault = fault
            self.connections = 0
            self.faulted = []

    def _serve(self) -> None:
        if self._listener is None:
            return
        while not self._stopping.is_set():
            try:
                client, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                index = self.connections
                self.connections += 1
                fault = self.fault[1] if self.fault and self.fault[0] == index else None
                if fault:
                    self.faulted.append(f"#{index} {fault}")
            # One connection at a time is all a rotation step opens; handled inline, bounded.
            self._handle(client, fault)

    def _handle(self, client: socket.socket, fault: DataFault | None) -> None:
        client.settimeout(5)
        if fault == "refuse":
            _reset(client)
            return
        try:
            upstream = socket.create_connection((self.target_host, self.target_port), timeout=5)
        except OSError:
            _reset(client)
            return
        with contextlib.closing(upstream), contextlib.closing(client):
            if fault == "reset_mid_auth":
                try:
                    first = client.recv(65536)
                except OSError:
                    return
                upstream.sendall(first[: len(first) // 2])
                _reset(client)
                return
            _pump(client, upstream)


def _pump(a: socket.socket, b: socket.socket, idle_seconds: float = 10.0) -> None:
    with selectors.DefaultSelector() as sel:
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        while True:
            ready = sel.select(timeout=idle_seconds)
            if not ready:
                return
            for key, _events in ready:
                src: socket.socket = key.fileobj  # type: ignore[assignment]
                dst: socket.socket = key.data
                try:
                    data = src.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                try:
                    dst.sendall(data)
                except OSError:
                    return


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0) rather than FIN: the peer sees 'connection reset'."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
