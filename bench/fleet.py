"""Real TLS redis-servers for the every-node benchmark's verification rounds (no moto).

Imported only where the servers start: `sandbox` loads moto, and a benchmark's child process
inherits its parent's peak RSS (ru_maxrss) at fork.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from sandbox.redis_server import RedisServer, RedisServerError
from sandbox.tls import TlsFiles

# A server's port is chosen free and bound a moment later; other work on the machine can take it
# in between (seen once in a full `make bench`). A fresh port is tried, a bounded number of times.
START_ATTEMPTS = 3


def _start_one(tls: TlsFiles) -> RedisServer:
    for attempt in range(1, START_ATTEMPTS + 1):
        server = RedisServer(tls=tls)
        try:
            return server.start()
        except RedisServerError:
            server.stop()
            if attempt == START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


@contextmanager
def running_servers(count: int, tls: TlsFiles) -> Iterator[list[RedisServer]]:
    """`count` TLS redis-servers, started in parallel, all stopped on exit (also when one of
    them could not start)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(_start_one, tls) for _ in range(count)]
    started = [f.result() for f in futures if f.exception() is None]
    try:
        for future in futures:
            future.result()  # the first start that failed for good, if any
        yield started
    finally:
        for server in started:
            server.stop()
