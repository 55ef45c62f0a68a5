"""Load: many secrets rotated concurrently against the served sandbox, with throttling.

- the sandbox served over HTTP (sandbox/server.py: moto with the faithful MemoryDB and Secrets
  Manager, one TLS cluster of one real redis-server node, the data plane of every user), its
  throttling on: a seeded `throttle` share of API requests is answered with HTTP 400
  ThrottlingException;
- each worker thread is one warm Lambda container: its own boto3 session and clients built with
  the function's `boto_config()` (standard retries, 5 attempts) pointed at the server by
  AWS_ENDPOINT_URL, and its own Rotator over the real adapters. Workers call `Rotator.handle`
  through `RotationDriver` (the Lambda handler's Powertools state is process-global, which
  threads in one process would share and Lambda containers do not);
- the CI-sized run scales botocore's backoff sleeps down (`backoff_scale`); the full run keeps
  them as deployed;
- every rotation is retried as Secrets Manager does; invariants 1-4 are checked before every step
  and at the end, on the sandbox's state and the real redis-server.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from sandbox.driver import RotationDriver, RotationOutcome
from sandbox.sandbox import FAST_WAITS, LAMBDA_ARN, Sandbox
from sandbox.server import ServedSandbox, Throttle
from tests.reliability.campaign.faults import scaled_backoff
from tests.reliability.campaign.invariants import InvariantChecker, Oracle

ROTATION_ATTEMPTS = 3
STEP_ATTEMPTS = 3
# The sizes of the two runs: CI's (the pytest run and `make reliability`) and the full one.
CI_LOAD: dict[str, Any] = {
    "secrets": 50,
    "workers": 25,
    "deadline_seconds": 120.0,
    "backoff_scale": 0.1,
}
FULL_LOAD: dict[str, Any] = {"secrets": 1000, "workers": 64, "deadline_seconds": 900.0}


@dataclass
class LoadResult:
    secrets: int
    completed: int = 0
    violations: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    requests: int = 0
    throttled: int = 0
    step_failures: int = 0
    whole_retries: int = 0
    seconds: float = 0.0
    timed_out: bool = False
    botocore_retries: int | None = None
    """Counted when the backoff is scaled (the CI run); None with botocore's own sleeps."""

    @property
    def ok(self) -> bool:
        return (
            self.completed == self.secrets
            and not self.violations
            and not self.failures
            and not self.timed_out
        )

    def line(self) -> str:
        share = self.throttled / self.requests if self.requests else 0.0
        return (
            f"load: {self.completed}/{self.secrets} rotated in {self.seconds:.0f}s, "
            f"{self.throttled}/{self.requests} API calls throttled ({share:.0%}), "
            f"{self.step_failures} failed invocations retried, {self.whole_retries} whole "
            f"rotations retried, {len(self.violations)} invariant violations"
            + (
                f" (botocore backoff sleeps scaled down; {self.botocore_retries} retries)"
                if self.botocore_retries is not None
                else " (botocore's own backoff)"
            )
        )


def run_load(
    secrets: int = 1000,
    *,
    workers: int = 64,
    throttle: float = 0.2,
    seed: int = 20261124,
    deadline_seconds: float = 900.0,
    propagation_delay: float = 0.2,
    backoff_scale: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> LoadResult:
    from rotation.adapters.aws import boto_config
    from rotation.adapters.memorydb import MemoryDBDirectory
    from rotation.adapters.redis_verifier import RedisVerifier
    from rotation.adapters.secrets_manager import SecretsManagerStore
    from rotation.models import Invocation, RotationRequest
    from rotation.rotator import Rotator
    from rotation.settings import Settings

    result = LoadResult(secrets)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if backoff_scale != 1.0:
            backoffs = stack.enter_context(scaled_backoff(backoff_scale))
            stack.callback(lambda: setattr(result, "botocore_retries", len(backoffs)))
        sandbox = stack.enter_context(Sandbox(propagation_delay=propagation_delay))
        served = stack.enter_context(ServedSandbox(sandbox, throttle=Throttle(throttle, seed)))

        # -- the estate: users and secrets, made in the sandbox before throttling starts -------
        oracle = Oracle(sandbox.redis)
        estate: list[tuple[str, str]] = []
        for i in range(secrets):
            user = f"load-{i:04d}"
            password = sandbox.create_user(user)
            estate.append((sandbox.create_secret(user, password, name=f"load/{user}"), user))
        if progress:
            progress(
                f"load: {secrets} users and secrets created in {time.monotonic() - started:.0f}s"
            )

        settings = Settings.model_validate(
            FAST_WAITS | {"CONNECT_TIMEOUT_SECONDS": "5", "CA_BUNDLE_PATH": str(served.ca_bundle)}
        )
        local = threading.local()

        def rotator() -> Rotator:
            found: Rotator | None = getattr(local, "rotator", None)
            if found is None:
                session = boto3.session.Session()  # one per container: sessions are not shared
                found = Rotator(
                    SecretsManagerStore(
                        boto3_client=session.client("secretsmanager", config=boto_config())
                    ),
                    MemoryDBDirectory(
                        boto3_client=session.client("memorydb", config=boto_config())
                    ),
                    RedisVerifier(
                        ca_bundle=settings.ca_bundle_path,
                        timeout_seconds=settings.connect_timeout_seconds,
                    ),
                    settings,
                )
                local.rotator = found
            return found

        def handler(event: dict[str, Any], context: Any) -> None:
            remaining = context.get_remaining_time_in_millis() / 1000
            rotator().handle(
                RotationRequest.from_event(event),
                Invocation(
                    time_left_seconds=max(0.0, remaining - 3 * 5 - 2), function_arn=LAMBDA_ARN
                ),
            )

        stop = threading.Event()

        def rotate_one(arn: str, user: str) -> tuple[list[RotationOutcome], list[str]]:
            checker = InvariantChecker(lambda: sandbox.view(arn), sandbox, oracle, user)
            checker.start()

            driver = RotationDriver(
                _proving(handler, checker),
                stage_pending=lambda a, t, copy: sandbox.stage_pending(a, t, copy_current=copy),
                finish_rotation=sandbox.finish_rotation,
                step_attempts=STEP_ATTEMPTS,
                before_step=lambda s, n: checker.check(f"before {s} attempt {n}"),
            )
            outcomes: list[RotationOutcome] = []
            token = str(uuid.uuid4())
            for _ in range(ROTATION_ATTEMPTS):
                if stop.is_set():
                    break
                outcome = driver.rotate(arn, token=token)
                outcomes.append(outcome)
                if outcome.succeeded:
                    break
            settled(sandbox, user)
            if outcomes and outcomes[-1].succeeded:
                checker.check_end()
            return outcomes, checker.violations

        served.throttle.enabled = True
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
        try:
            futures = {pool.submit(rotate_one, arn, user): arn for arn, user in estate}
            done = 0
            try:
                for future in concurrent.futures.as_completed(
                    futures, timeout=max(1.0, deadline_seconds - (time.monotonic() - started))
                ):
                    outcomes, violations = future.result()
                    done += 1
                    result.violations += violations
                    result.step_failures += sum(1 for o in outcomes for a in o.attempts if not a.ok)
                    result.whole_retries += max(0, len(outcomes) - 1)
                    if outcomes and outcomes[-1].succeeded:
                        result.completed += 1
                    else:
                        last = outcomes[-1].last_error if outcomes else None
                        result.failures.append(f"{futures[future]}: {last}")
                    if progress and done % max(1, secrets // 10) == 0:
                        progress(
                            f"load: {done}/{secrets} done at {time.monotonic() - started:.0f}s"
                        )
            except concurrent.futures.TimeoutError:
                result.timed_out = True
                stop.set()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            served.throttle.enabled = False
            oracle.close()
        result.requests = served.throttle.requests
        result.throttled = served.throttle.throttled
    result.seconds = time.monotonic() - started
    return result


def settled(sandbox: Sandbox, user: str) -> None:
    """Wait (bounded) for this user's last change to reach the data plane."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sandbox.apply_due()
        if sandbox.user_status(user) == "active":
            return
        time.sleep(0.02)


def _proving(
    handler: Callable[[dict[str, Any], Any], None], checker: InvariantChecker
) -> Callable[[dict[str, Any], Any], None]:
    def run(event: dict[str, Any], context: Any) -> None:
        handler(event, context)
        if event.get("Step") == "testSecret":
            checker.proved(str(event["ClientRequestToken"]))

    return run
