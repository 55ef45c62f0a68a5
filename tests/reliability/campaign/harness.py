"""One sandbox, wired for reliability runs: faults on every AWS call and data-plane connection,
invariants checked after each of them, every output scanned for secrets.

A rotation is retried as Secrets Manager does: a failed step again with the same token
(`STEP_ATTEMPTS`), then the whole rotation with the same token (`ROTATION_ATTEMPTS`).
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.driver import RotationDriver, RotationOutcome
from sandbox.sandbox import Sandbox
from sandbox.scheduler import Firing
from tests.reliability.campaign.faults import AwsFaultInjector, Fault, LambdaKilled
from tests.reliability.campaign.invariants import InvariantChecker, Oracle
from tests.reliability.campaign.leaks import LeakScanner
from tests.reliability.campaign.proxy import DataFault, TcpFaultProxy

STEP_ATTEMPTS = 2
# User names are unique per process, so several harnesses can share one sandbox.
_USER_NUMBERS = itertools.count(1)
ROTATION_ATTEMPTS = 3


class KilledByHarness(RuntimeError):
    """What Secrets Manager records when the function died: the invocation failed."""


@dataclass
class RotationRun:
    outcomes: list[RotationOutcome] = field(default_factory=list)
    checker: InvariantChecker | None = None
    leaks: list[str] = field(default_factory=list)
    kills: int = 0
    botocore_retries: int = 0
    step_failures: int = 0

    @property
    def succeeded(self) -> bool:
        return bool(self.outcomes) and self.outcomes[-1].succeeded

    @property
    def violations(self) -> list[str]:
        return self.checker.violations if self.checker else []

    def summary(self) -> str:
        if self.succeeded and not self.violations and not self.leaks:
            return (
                f"ok after {len(self.outcomes)} rotation(s), {self.step_failures} failed "
                f"invocation(s), {self.botocore_retries} botocore retries, "
                f"{self.checker.checks if self.checker else 0} checks"
            )
        problems = [*self.violations[:3], *self.leaks[:3]]
        if not self.succeeded:
            last = self.outcomes[-1].last_error if self.outcomes else None
            problems.append(
                f"rotation did not complete: {last.error_type}: {last.error}" if last else "no run"
            )
        return "; ".join(problems)


class Harness:
    def __init__(self, sandbox: Sandbox, *, debug_logs: bool = False) -> None:
        self.sandbox = sandbox
        self.injector = AwsFaultInjector()
        # The proxy stands where MemoryDB reports the default node: the function discovers it as
        # the node's endpoint, reaches it as `localhost` (the name on the node's certificate) and
        # the TLS stream passes through it unread.
        self.proxy = TcpFaultProxy("127.0.0.1", sandbox.redis.port)
        self._node = sandbox.cluster().nodes[0].name
        self.oracle = Oracle(sandbox.redis)
        self.debug_logs = debug_logs
        self._checker: InvariantChecker | None = None
        self.scanner = LeakScanner()
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Harness:
        self._stack.enter_context(self.injector.installed())
        self._stack.enter_context(self.proxy)
        self.sandbox.advertise_node(self._node, ("localhost", self.proxy.port))
        self._stack.callback(self.sandbox.advertise_node, self._node, None)
        self._stack.enter_context(self._verifier_checks())
        self._stack.callback(self.oracle.close)
        self.injector.after_attempt = self._check
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stack.close()

    # -- resources ------------------------------------------------------------------------------

    def new_secret(self, prefix: str = "rel", **extra: Any) -> tuple[str, str]:
        """A fresh user (its node reached through the fault proxy) and its secret: (arn, user)."""
        user = f"{prefix}-{next(_USER_NUMBERS):04d}"
        password = self.sandbox.create_user(user)
        document = self.sandbox.secret_document(user, password, **extra)
        return self.sandbox.create_secret(user, password, document=document), user

    def driver(self, run: RotationRun, **options: Any) -> RotationDriver:
        options.setdefault("step_attempts", STEP_ATTEMPTS)
        return self.sandbox.driver(self._handler(run), **options)

    # -- one rotation under one fault -----------------------------------------------------------

    def rotate(
        self,
        arn: str,
        user: str,
        *,
        fault: Fault | None = None,
        data_fault: tuple[int, DataFault] | None = None,
        keep_old: bool = False,
        before_step: Callable[[str, int], None] | None = None,
        timeout_seconds: float = 900.0,
        kill_when: Callable[[str], bool] | None = None,
    ) -> RotationRun:
        run = RotationRun()
        checker = InvariantChecker(
            lambda: self.sandbox.view(arn), self.sandbox, self.oracle, user, keep_old
        ).start()
        run.checker = checker
        self._checker = checker
        rotation_token = f"{uuid.uuid4()}-{secrets.token_hex(8)}"
        scanner = LeakScanner(debug=self.debug_logs)
        driver = self.driver(run, before_step=before_step, timeout_seconds=timeout_seconds)
        self.proxy.plan(data_fault)
        token = str(uuid.uuid4())
        retries_before = len(self.injector.backoff_requested)
        try:
            with scanner.capturing(), self.injector.armed(fault, kill_when=kill_when):
                self.scanner = scanner
                for _attempt in range(ROTATION_ATTEMPTS):
                    outcome = driver.rotate(arn, token=token, rotation_token=rotation_token)
                    run.outcomes.append(outcome)
                    for attempt in outcome.attempts:
                        if not attempt.ok:
                            scanner.text("exceptions", f"{attempt.error_type}: {attempt.error}")
                    if outcome.succeeded:
                        break
            self.sandbox.settle()
            checker.check_end()
        finally:
            self._checker = None
            self.proxy.fault = None
            run.botocore_retries = len(self.injector.backoff_requested) - retries_before
        run.leaks = scanner.scan(self.secrets_of(arn, user) | {rotation_token})
        return run

    def fire(
        self,
        run: RotationRun,
        arn: str,
        user: str,
        *,
        after_seconds: float,
        fault: Fault | None = None,
    ) -> list[Firing]:
        """drop-after: move the sandbox's clock on and fire the due schedules through the wrapped
        handler, with `fault` planned on the firing's AWS attempts and the rotation's invariants
        checked after each of them; then the user must hold one password."""
        checker = run.checker
        self._checker = checker
        scanner = LeakScanner(debug=self.debug_logs)
        retries_before = len(self.injector.backoff_requested)
        try:
            with scanner.capturing(), self.injector.armed(fault):
                self.scanner = scanner
                firings = self.sandbox.pass_time(after_seconds, self._handler(run))
                for firing in firings:
                    for error in firing.errors:
                        scanner.text("exceptions", error)
            self.sandbox.settle()
            if checker is not None:
                checker.check("after the scheduled drop")
                count = self.sandbox.password_count(user)
                if count != 1:
                    checker.violations.append(f"the user holds {count} passwords after the grace")
        finally:
            self._checker = None
            run.botocore_retries += len(self.injector.backoff_requested) - retries_before
        run.leaks += scanner.scan(self.secrets_of(arn, user))
        return firings

    def secrets_of(self, arn: str, user: str) -> set[str]:
        values = set(self.sandbox.passwords_seen)
        for value in self.sandbox.view(arn).values.values():
            if isinstance(value, dict) and isinstance(value.get("password"), str):
                values.add(value["password"])
        if self.sandbox.has_user(user):
            values.update(self.sandbox.control_plane_passwords(user))
        return values

    # -- wiring ---------------------------------------------------------------------------------

    def _check(self, where: str) -> None:
        if self._checker is not None:
            self._checker.check(where)

    def _handler(self, run: RotationRun) -> Callable[[dict[str, Any], Any], None]:
        from rotation.composition import service
        from rotation.handler import lambda_handler
        from rotation.observability import metrics

        def handler(event: dict[str, Any], context: Any) -> None:
            try:
                lambda_handler(event, context)
            except LambdaKilled:
                run.kills += 1
                run.step_failures += 1
                # The container is gone: the next invocation is a cold start, and whatever
                # the dead one had buffered (metrics, log keys) is lost with it.
                service.cache_clear()
                metrics.clear_metrics()
                raise KilledByHarness("the function was killed before it returned") from None
            except Exception as exc:
                run.step_failures += 1
                self.scanner.exception(exc)
                raise
            if event.get("Step") == "testSecret" and self._checker is not None:
                self._checker.proved(str(event["ClientRequestToken"]))

        return handler

    @contextlib.contextmanager
    def _verifier_checks(self) -> Iterator[None]:
        """Check the invariants after every data-plane connection the function makes."""
        from rotation.adapters.redis_verifier import RedisVerifier

        original = RedisVerifier.authenticates
        harness = self

        def authenticates(verifier: RedisVerifier, *args: Any, **kwargs: Any) -> bool:
            try:
                return original(verifier, *args, **kwargs)
            finally:
                harness._check("after a data-plane connection")

        RedisVerifier.authenticates = authenticates  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            RedisVerifier.authenticates = original  # type: ignore[method-assign]


def function_timeout(wait_seconds: float) -> float:
    """A Lambda timeout that leaves the step `wait_seconds` of waiting: the function keeps back
    its reserve (botocore's worst case for one call and one proof round) from what remains."""
    from rotation.composition import service

    return service().reserve_seconds + wait_seconds
