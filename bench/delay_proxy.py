"""A loopback TCP proxy that adds a fixed one-way delay to every byte, in both directions.

    python -m bench.delay_proxy --round-trip 0.02 HOST:PORT [HOST:PORT ...]

Prints one JSON line, `{"ports": [...]}` (one listening port on 127.0.0.1 per upstream, in the
order given), then forwards until stdin closes. bench.nodes runs it in its own process so the
proxy's CPU and its share of the GIL are not charged to the verifier being measured.

Latency, not bandwidth: each chunk read is released `round_trip / 2` after it arrived, and chunks
leave in arrival order, so a request and its reply see one full round trip. What it cannot delay is
the TCP handshake itself (the kernel completes it before the proxy accepts), so a TLS 1.3 connect
plus AUTH sees two simulated round trips where a real network costs three.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
_CHUNK = 65536


class Reader(Protocol):
    """What `pipe` uses of an asyncio.StreamReader."""

    async def read(self, n: int) -> bytes: ...


class Writer(Protocol):
    """What `pipe` uses of an asyncio.StreamWriter."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


class DelayProxy:
    """One listener per upstream; `clock` and `sleep` are injectable so tests never wait."""

    def __init__(
        self,
        upstreams: Sequence[tuple[str, int]],
        *,
        round_trip: float,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.upstreams = list(upstreams)
        self.one_way = round_trip / 2
        self._clock = clock
        self._sleep = sleep
        self.ports: list[int] = []
        self._servers: list[asyncio.Server] = []

    async def start(self) -> list[int]:
        for host, port in self.upstreams:
            server = await asyncio.start_server(self._handler(host, port), "127.0.0.1", 0)
            self._servers.append(server)
            self.ports.append(server.sockets[0].getsockname()[1])
        return self.ports

    async def close(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def _handler(
        self, host: str, port: int
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(reader, writer, host, port)

        return serve

    async def _serve(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        host: str,
        port: int,
    ) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(
                self.pipe(client_reader, upstream_writer),
                self.pipe(upstream_reader, client_writer),
                return_exceptions=True,
            )
        except asyncio.CancelledError:
            # The proxy is shutting down with this connection open: nothing left to forward.
            client_writer.close()
            upstream_writer.close()

    async def pipe(self, reader: Reader, writer: Writer) -> None:
        """Copy reader to writer, each chunk released one_way seconds after it was read; EOF is
        delayed like data, then closes the writer."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def receive() -> None:
            try:
                while data := await reader.read(_CHUNK):
                    queue.put_nowait((self._now() + self.one_way, data))
            except OSError:
                pass
            finally:
                queue.put_nowait((self._now() + self.one_way, b""))

        async def release() -> None:
            try:
                while True:
                    due, data = await queue.get()
                    pause = due - self._now()
                    if pause > 0:
                        await self._sleep(pause)
                    if not data:
                        return
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            finally:
                writer.close()

        await asyncio.gather(receive(), release())


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--round-trip", type=float, required=True, help="seconds")
    parser.add_argument("upstreams", nargs="+", type=_address, metavar="HOST:PORT")
    args = parser.parse_args(argv)

    async def run() -> None:
        proxy = DelayProxy(args.upstreams, round_trip=args.round_trip)
        ports = await proxy.start()
        print(json.dumps({"ports": ports}), flush=True)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        # The parent ends the proxy by closing our stdin (or by exiting).
        threading.Thread(
            target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stopped.set)),
            daemon=True,
        ).start()
        await stopped.wait()
        await proxy.close()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
