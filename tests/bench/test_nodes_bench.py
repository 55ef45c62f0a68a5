"""The every-node benchmark's helpers: the delay line, the AUTH bytes, the alternation, the
servers' start and the verdicts. No socket is opened and no timing is asserted."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from bench import fleet
from bench.delay_proxy import DelayProxy
from bench.figures import node_figures, node_rotation_figures
from bench.nodes import alternate, auth_command
from sandbox.redis_server import RedisServerError

# -- the delay line ---------------------------------------------------------------------------


@dataclass
class FakeTime:
    """A clock that moves only when the proxy sleeps."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class FakeWriter:
    written: list[bytes] = field(default_factory=list)
    closed: bool = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.written.append(data)

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeReader:
    """Hands out one chunk per read, as the socket would when they arrived apart; b"" at EOF."""

    chunks: list[bytes]

    async def read(self, n: int) -> bytes:
        return self.chunks.pop(0)[:n] if self.chunks else b""


def _pipe(chunks: list[bytes], round_trip: float, time: FakeTime) -> FakeWriter:
    writer = FakeWriter()
    proxy = DelayProxy([], round_trip=round_trip, clock=time.clock, sleep=time.sleep)
    asyncio.run(proxy.pipe(FakeReader(list(chunks)), writer))
    return writer


def test_every_chunk_is_held_half_a_round_trip_then_passed_on_in_order() -> None:
    time = FakeTime()
    writer = _pipe([b"hello ", b"world"], 0.02, time)
    assert writer.written == [b"hello ", b"world"]
    assert time.sleeps == [pytest.approx(0.01)]
    assert writer.closed


def test_chunks_that_arrived_together_are_not_delayed_one_after_another() -> None:
    # Latency, not bandwidth: a proxy that slept per chunk would turn 3 chunks into 3 delays.
    time = FakeTime()
    chunks = [b"a" * 10, b"b" * 10, b"c" * 10]
    writer = _pipe(chunks, 0.04, time)
    assert writer.written == chunks
    assert sum(time.sleeps) == pytest.approx(0.02)


def test_end_of_stream_closes_the_other_side_after_the_same_delay() -> None:
    time = FakeTime()
    writer = _pipe([], 0.02, time)
    assert writer.written == []
    assert writer.closed
    assert time.sleeps == [pytest.approx(0.01)]


# -- the floor's request ----------------------------------------------------------------------


def test_auth_command_is_resp2_auth_with_username_and_password() -> None:
    assert auth_command("app", "p4ss") == b"*3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$4\r\np4ss\r\n"


def test_auth_command_counts_bytes_not_characters() -> None:
    assert b"$6\r\nx\xc3\xa9y\xc3\xa9\r\n" in auth_command("u", "xéyé")


# -- alternation ------------------------------------------------------------------------------


def test_alternate_warms_up_both_then_swaps_which_goes_first() -> None:
    order: list[str] = []

    def sample(name: str) -> Any:
        def run() -> dict[str, Any]:
            order.append(name)
            return {"name": name}

        return run

    first, second = alternate(3, sample("a"), sample("b"))
    assert order == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert [s["name"] for s in first] == ["a"] * 3
    assert [s["name"] for s in second] == ["b"] * 3


# -- verdicts ---------------------------------------------------------------------------------


def _samples(wall: float, cpu: float, n: int = 3, ok: bool = True) -> list[dict[str, Any]]:
    return [{"wall": wall, "cpu": cpu, "ok": ok} for _ in range(n)]


def _proof_result(**overrides: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "load": [1.0, 1.5],
        "concurrency": 16,
        "round_trip": 0.02,
        "verification": {
            "1": {"proof": _samples(0.0024, 0.002), "floor": _samples(0.002, 0.0018)},
            "20": {"proof": _samples(0.05, 0.04), "floor": _samples(0.04, 0.035)},
        },
        "delayed": {
            "1": {"proof": _samples(0.045, 0.002), "floor": _samples(0.044, 0.002)},
            "20": {"proof": _samples(0.11, 0.04), "floor": _samples(0.1, 0.035)},
        },
    }
    result.update(overrides)
    return result


def test_each_proof_is_judged_by_wall_time_and_cpu_against_its_floor() -> None:
    figures = node_figures(_proof_result())
    verdicts = {f.name: f.passed for f in figures}
    assert verdicts["nodes: proof on 1 TLS node(s), wall time / floor"] is True  # 1.2x
    assert verdicts["nodes: proof on 20 TLS node(s), client CPU / floor"] is True  # 1.14x
    delayed = next(f for f in figures if "round trip" in f.name)
    assert delayed.passed is True  # 2.44x
    assert "2.44x" in delayed.value
    assert "2.27x" in delayed.baseline  # the floor's own ratio
    assert figures[-1].passed is None  # machine load: reported only


def test_a_proof_over_the_floor_ratio_fails() -> None:
    result = _proof_result()
    result["verification"]["20"]["proof"] = _samples(0.06, 0.04)  # 1.5x the floor's wall time
    verdicts = {f.name: f.passed for f in node_figures(result)}
    assert verdicts["nodes: proof on 20 TLS node(s), wall time / floor"] is False
    assert verdicts["nodes: proof on 20 TLS node(s), client CPU / floor"] is True


def test_a_refused_proof_fails_however_fast_it_was() -> None:
    result = _proof_result()
    result["verification"]["1"]["proof"] = _samples(0.001, 0.001, ok=False)
    figures = [f for f in node_figures(result) if "on 1 TLS" in f.name]
    assert [f.passed for f in figures] == [False, False]
    assert "REFUSED" in figures[0].value


def test_twenty_delayed_nodes_over_three_times_one_fail() -> None:
    result = _proof_result()
    result["delayed"]["20"]["proof"] = _samples(0.14, 0.04)  # 3.1x
    delayed = next(f for f in node_figures(result) if "round trip" in f.name)
    assert delayed.passed is False


def _invocation(step: str, *extra: str, polls: int = 1) -> dict[str, Any]:
    actions = [
        "DescribeSecret",
        "GetSecretValue",
        "GetSecretValue",
        *["DescribeUsers"] * polls,
        "ListTags",
        "DescribeACLs",
        "DescribeClusters",
        *extra,
    ]
    return {"step": step, "ok": True, "actions": actions}


def _rotation(nodes: int, *invocations: dict[str, Any], rss_mb: float = 70.0) -> dict[str, Any]:
    return {
        "nodes": nodes,
        "succeeded": True,
        "failures": [],
        "maxrss_kb": rss_mb * 1024,
        "seconds": 2.0,
        "baseline_kb": 35 * 1024,
        "invocations": list(invocations),
    }


def _full(nodes: int, *, test_polls: int = 2, rss_mb: float = 70.0) -> dict[str, Any]:
    return _rotation(
        nodes,
        _invocation("createSecret", "TagResource", "PutSecretValue"),
        _invocation("setSecret", "UpdateUser"),
        _invocation("testSecret", polls=test_polls),
        _invocation("finishSecret", "UpdateSecretVersionStage", "UpdateUser"),
        rss_mb=rss_mb,
    )


def test_a_full_rotation_on_twenty_nodes_is_judged_on_memory_discovery_and_calls() -> None:
    figures = node_rotation_figures(_full(20, test_polls=3), _full(1))
    assert all(f.passed for f in figures)
    assert figures[0].value.startswith("70.0 MB")
    calls = {f.name: f.value for f in figures}
    assert calls["nodes: AWS calls, setSecret"].startswith("8 in 1 invocation(s)")
    # A different number of status polls is timing, not topology.
    assert figures[-1].value.startswith("35 in 4 invocations")


def test_over_100_mb_fails() -> None:
    assert node_rotation_figures(_full(20, rss_mb=101.0), _full(1))[0].passed is False


def test_discovery_twice_in_one_invocation_fails_that_step() -> None:
    many = _full(20)
    many["invocations"][1] = _invocation("setSecret", "DescribeACLs", "UpdateUser")
    verdicts = {f.name: f.passed for f in node_rotation_figures(many, _full(1))}
    assert verdicts["nodes: AWS calls, setSecret"] is False
    assert verdicts["nodes: AWS calls, createSecret"] is True
    # One more call than on one node: the topology cost an AWS call.
    assert verdicts["nodes: AWS calls of one full rotation on 20 nodes"] is False


def test_a_failed_rotation_fails_memory_and_calls() -> None:
    many = _full(20)
    many["succeeded"] = False
    many["failures"] = ["testSecret: PendingPasswordRejectedError"]
    figures = node_rotation_figures(many, _full(1))
    assert figures[0].passed is False
    assert "FAILED" in figures[0].value
    assert figures[-1].passed is False


class FlakyServer:
    """A server whose first `fails` starts find their port taken."""

    fails = 0
    made: list[FlakyServer] = []  # noqa: RUF012 - the test's record of every server made

    def __init__(self, *, tls: Any) -> None:
        self.stopped = False
        self.started = False
        FlakyServer.made.append(self)

    def start(self) -> FlakyServer:
        if FlakyServer.fails > 0:
            FlakyServer.fails -= 1
            raise RedisServerError("redis-server exited at start")
        self.started = True
        return self

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> type[FlakyServer]:
    monkeypatch.setattr(fleet, "RedisServer", FlakyServer)
    FlakyServer.made = []
    return FlakyServer


def test_a_server_whose_port_was_taken_is_started_again_on_another(
    flaky: type[FlakyServer],
) -> None:
    flaky.fails = 2
    with fleet.running_servers(1, tls=None) as servers:  # type: ignore[arg-type]
        assert len(servers) == 1
        assert servers[0].started  # type: ignore[attr-defined]
    assert len(flaky.made) == 3
    assert all(server.stopped for server in flaky.made)


def test_servers_that_never_start_fail_after_the_last_attempt_and_are_all_stopped(
    flaky: type[FlakyServer],
) -> None:
    flaky.fails = 1000
    with (
        pytest.raises(RedisServerError),
        fleet.running_servers(2, tls=None),  # type: ignore[arg-type]
    ):
        pass
    assert len(flaky.made) == 2 * fleet.START_ATTEMPTS
    assert all(server.stopped for server in flaky.made)
