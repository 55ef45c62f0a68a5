"""Load: many secrets rotated concurrently against moto as a real HTTP server, with throttling.

- moto runs as `ThreadedMotoServer` on 127.0.0.1 (a free port), wrapped in a WSGI middleware
  that answers a seeded `throttle` share of API requests with HTTP 400 ThrottlingException;
- FaithfulMemoryDB and StrictSecretsManager patch moto's backend classes in this process, so the
  server's threads use them; one real redis-server is the data plane of every user;
- each worker thread is one warm Lambda container: its own boto3 session and clients built with
  the function's `boto_config()` (standard retries, 5 attempts) pointed at the server by
  AWS_ENDPOINT_URL, and its own Rotator over the real adapters. Workers call `Rotator.handle`
  through `RotationDriver` (the Lambda handler's Powertools state is process-global, which
  threads in one process would share and Lambda containers do not);
- the CI-sized run scales botocore's backoff sleeps down (`backoff_scale`); the full run keeps
  them as deployed;
- every rotation is retried as Secrets Manager does; invariants 1-4 are checked before every step
  and at the end, on the backends' state and the real redis-server.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import random
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from sandbox.driver import RotationDriver, RotationOutcome
from sandbox.memorydb import FaithfulMemoryDB
from sandbox.redis_server import free_port
from sandbox.sandbox import (
    ACCOUNT,
    DEFAULT_ACL,
    DEFAULT_CLUSTER,
    FAST_WAITS,
    LAMBDA_ARN,
    REGION,
    seed_rotatable_secret,
)
from sandbox.secretsmanager import StrictSecretsManager
from sandbox.tls import TestAuthority
from sandbox.topology import Topology
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


class ThrottlingMiddleware:
    """Answers a seeded share of API calls with ThrottlingException, as an overloaded API does."""

    def __init__(self, app: Any, share: float, seed: int) -> None:
        self._app = app
        self.share = share
        self.enabled = False
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.requests = 0
        self.throttled = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.enabled and environ.get("HTTP_X_AMZ_TARGET"):
            with self._lock:
                self.requests += 1
                throttle = self._random.random() < self.share
                self.throttled += throttle
            if throttle:
                body = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
                start_response(
                    "400 Bad Request",
                    [
                        ("Content-Type", "application/x-amz-json-1.1"),
                        ("Content-Length", str(len(body))),
                        ("x-amzn-RequestId", str(uuid.uuid4())),
                    ],
                )
                return [body]
        return self._app(environ, start_response)


class ThrottlingMotoServer(ThreadedMotoServer):
    def __init__(self, port: int, share: float, seed: int) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self.middleware = ThrottlingMiddleware(
            DomainDispatcherApplication(create_backend_app), share, seed
        )

    def _server_entry(self) -> None:
        self._server = make_server(
            self._ip_address,
            self._port,
            self.middleware,
            True,
            request_handler=MotoRequestHandler,
        )
        self._server_ready_event.set()
        self._server.serve_forever()


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


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = ThrottlingMotoServer(port, throttle, seed)
    strict = StrictSecretsManager(ACCOUNT, REGION)
    quiet = logging.getLogger("werkzeug")
    saved_level = quiet.level
    quiet.setLevel(logging.ERROR)
    with contextlib.ExitStack() as stack:
        stack.callback(quiet.setLevel, saved_level)
        if backoff_scale != 1.0:
            backoffs = stack.enter_context(scaled_backoff(backoff_scale))
            stack.callback(lambda: setattr(result, "botocore_retries", len(backoffs)))
        stack.enter_context(
            _env(
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
                AWS_SESSION_TOKEN="testing",
                AWS_DEFAULT_REGION=REGION,
                AWS_REGION=REGION,
                AWS_ENDPOINT_URL=endpoint,
            )
        )
        # One TLS cluster of one node, as the sandbox builds it, patched into this process's
        # backends so the server's threads serve it.
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="load-tls-")))
        tls = TestAuthority(workdir).issue()
        topology = Topology(
            engine=None, tls=tls, lag=0.0, clock=time.monotonic, account=ACCOUNT, region=REGION
        )
        stack.callback(topology.close)
        memorydb = FaithfulMemoryDB(topology, propagation_delay=propagation_delay)
        stack.enter_context(memorydb.patched())
        stack.enter_context(topology.patched())
        stack.enter_context(strict.patched())
        server.start()
        stack.callback(server.stop)

        # -- the estate: users and secrets, created through the server, before throttling --------
        setup = boto3.session.Session()
        mdb = setup.client("memorydb", config=boto_config())
        sm = setup.client("secretsmanager", config=boto_config())
        mdb.create_acl(ACLName=DEFAULT_ACL)
        mdb.create_cluster(
            ClusterName=DEFAULT_CLUSTER,
            NodeType="db.t4g.small",
            ACLName=DEFAULT_ACL,
            TLSEnabled=True,
        )
        node = topology.cluster(DEFAULT_CLUSTER).nodes[0]
        oracle = Oracle(node.server)
        estate: list[tuple[str, str]] = []
        for i in range(secrets):
            user = f"load-{i:04d}"
            arn, _password = seed_rotatable_secret(
                mdb,
                sm,
                user,
                name=f"load/{user}",
                host=node.host,
                port=node.port,
                ssl=True,
            )
            strict.enable_rotation(arn, LAMBDA_ARN)
            estate.append((arn, user))
        if progress:
            progress(
                f"load: {secrets} users and secrets created in {time.monotonic() - started:.0f}s"
            )

        settings = Settings.model_validate(
            FAST_WAITS | {"CONNECT_TIMEOUT_SECONDS": "5", "CA_BUNDLE_PATH": str(tls.ca_cert)}
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
            checker = InvariantChecker(lambda: strict.view(arn), memorydb, oracle, user)
            checker.start()

            driver = RotationDriver(
                _proving(handler, checker),
                stage_pending=lambda a, t, copy: strict.stage_pending(a, t, copy_current=copy),
                finish_rotation=strict.finish_rotation,
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
            memorydb_settled(memorydb, user)
            if outcomes and outcomes[-1].succeeded:
                checker.check_end()
            return outcomes, checker.violations

        server.middleware.enabled = True
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
            server.middleware.enabled = False
            oracle.close()
        result.requests = server.middleware.requests
        result.throttled = server.middleware.throttled
    result.seconds = time.monotonic() - started
    return result


def memorydb_settled(memorydb: FaithfulMemoryDB, user: str) -> None:
    """Wait (bounded) for this user's last change to reach the data plane."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        memorydb.tick()
        if memorydb.status(user) == "active":
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
