"""Fault injection for every AWS call the function makes, at the HTTP-attempt level.

The injector wraps botocore's `Endpoint._do_get_response`, which runs once per HTTP attempt inside
botocore's retry loop. A fault injected there is seen by the function's real retry configuration
(`rotation.adapters.aws.boto_config()`: standard mode, 5 attempts): a single throttled attempt is
absorbed by botocore, an outage that outlasts the attempts reaches the rotator as AwsCallError.

A fault "before" the call answers without calling moto (the request never lands); a fault
"after" lets moto handle the request, then throws its answer away (it landed, the answer is lost).
A `kill` raises LambdaKilled, a BaseException that nothing in the function catches: the process
stops there, as when Lambda kills a container.

botocore's backoff sleeps (up to 20 s) are recorded and shortened (see
docs/decisions.md): the decision to retry is botocore's own, only the wall time shrinks.
"""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import botocore.endpoint
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

Kind = Literal["throttle", "connection", "read_timeout", "5xx", "kill"]
Position = Literal["before", "after"]
KINDS: tuple[Kind, ...] = ("throttle", "connection", "read_timeout", "5xx", "kill")


class LambdaKilled(BaseException):
    """The container died here (timeout, OOM, a host going away). Nothing catches it."""


@dataclass(frozen=True)
class Fault:
    index: int
    """Which HTTP attempt (0-based, counted across every client while armed) gets the fault."""
    position: Position
    kind: Kind
    outage: bool = False
    """True: every retry of the same call faults too, so botocore gives up and the step fails."""
    operation: str | None = None
    """When set, the fault hits the first attempt of this operation instead of `index`."""

    @property
    def label(self) -> str:
        persist = "outage" if self.outage else "blip"
        return f"#{self.index:02d} {self.position:6s} {self.kind:12s} {persist}"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self._body


def _error_answer(request: Any, status: int, code: str) -> tuple[AWSResponse, dict[str, Any]]:
    body = f'{{"__type":"{code}","message":"injected by the reliability harness"}}'.encode()
    headers = {"x-amzn-requestid": "reliability-harness", "content-type": "application/json"}
    response = AWSResponse(request.url, status, headers, _Raw(body))  # type: ignore[arg-type]
    parsed: dict[str, Any] = {
        "Error": {"Code": code, "Message": "injected by the reliability harness"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
    }
    return response, parsed


def fault_result(kind: Kind, position: Position, request: Any) -> tuple[Any, Exception | None]:
    """What `_do_get_response` returns for an injected fault: (answer, None) or (None, error)."""
    url = request.url
    if kind == "throttle":
        return _error_answer(request, 400, "ThrottlingException"), None
    if kind == "5xx":
        return _error_answer(request, 503, "ServiceUnavailable"), None
    if kind == "read_timeout":
        return None, ReadTimeoutError(endpoint_url=url)
    if kind == "connection":
        if position == "before":
            return None, EndpointConnectionError(endpoint_url=url)
        return None, ConnectionClosedError(endpoint_url=url)
    raise LambdaKilled(f"killed {position} an AWS call")


@dataclass
class CallRecord:
    index: int
    operation: str
    faulted: str | None = None


@dataclass
class AwsFaultInjector:
    """Counts every HTTP attempt of the armed thread; injects the planned fault; calls `after`."""

    after_attempt: Callable[[str], None] | None = None
    fault: Fault | None = None
    records: list[CallRecord] = field(default_factory=list)
    backoff_requested: list[float] = field(default_factory=list)
    sleep_scale: float = 0.0
    kill_when: Callable[[str], bool] | None = None
    """Kill the function at the first attempt whose operation name this accepts."""
    _thread: int | None = None
    _outage_context: object | None = None
    fired: bool = False

    @contextmanager
    def installed(self) -> Iterator[AwsFaultInjector]:
        endpoint_class: Any = botocore.endpoint.Endpoint
        endpoint_module: Any = botocore.endpoint
        original = endpoint_class._do_get_response
        original_time = endpoint_module.time
        injector = self

        def do_get_response(endpoint: Any, request: Any, operation_model: Any, context: Any) -> Any:
            if injector._thread != threading.get_ident():
                return original(endpoint, request, operation_model, context)
            return injector._attempt(
                lambda: original(endpoint, request, operation_model, context),
                request,
                operation_model.name,
                context,
            )

        def sleep(seconds: float) -> None:
            if injector._thread == threading.get_ident():
                injector.backoff_requested.append(seconds)
                time.sleep(seconds * injector.sleep_scale)
            else:
                time.sleep(seconds)

        shim = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time) if n[0] != "_"})
        shim.sleep = sleep
        endpoint_class._do_get_response = do_get_response
        endpoint_module.time = shim
        try:
            yield self
        finally:
            endpoint_class._do_get_response = original
            endpoint_module.time = original_time

    @contextmanager
    def armed(
        self, fault: Fault | None = None, *, kill_when: Callable[[str], bool] | None = None
    ) -> Iterator[AwsFaultInjector]:
        """Count (and fault) the attempts this thread makes inside the block."""
        self.fault = fault
        self.kill_when = kill_when
        self.records = []
        self.fired = False
        self._outage_context = None
        self._thread = threading.get_ident()
        try:
            yield self
        finally:
            self._thread = None

    def _attempt(self, call: Callable[[], Any], request: Any, operation: str, context: Any) -> Any:
        record = CallRecord(len(self.records), operation)
        self.records.append(record)
        fault = self._fault_for(record.index, operation, context)
        try:
            if self.kill_when is not None and self.kill_when(operation):
                self.kill_when = None
                self.fired = True
                record.faulted = "before kill"
                raise LambdaKilled("killed inside a wait")
            if fault is None:
                return call()
            record.faulted = f"{fault.position} {fault.kind}"
            if fault.position == "after":
                call()
            return fault_result(fault.kind, fault.position, request)
        finally:
            if self.after_attempt is not None:
                self.after_attempt(f"after AWS attempt #{record.index} {operation}")

    def _fault_for(self, index: int, operation: str, context: Any) -> Fault | None:
        fault = self.fault
        if fault is None:
            return None
        hit = operation == fault.operation if fault.operation else index == fault.index
        if hit and not self.fired:
            self.fired = True
            if fault.outage:
                self._outage_context = context
            return fault
        if fault.outage and self._outage_context is not None and context is self._outage_context:
            return fault
        return None


@contextmanager
def scaled_backoff(scale: float) -> Iterator[list[float]]:
    """Every thread's botocore backoff sleeps `scale` times what botocore asked for.

    The retry decisions (which errors, how many attempts, the quota) stay botocore's own; only the
    wall time shrinks. Yields the list of requested delays.
    """
    endpoint_module: Any = botocore.endpoint
    original_time = endpoint_module.time
    requested: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            requested.append(seconds)
        time.sleep(seconds * scale)

    shim = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time) if n[0] != "_"})
    shim.sleep = sleep
    endpoint_module.time = shim
    try:
        yield requested
    finally:
        endpoint_module.time = original_time
