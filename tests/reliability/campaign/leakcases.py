"""Invariant 5 under the conditions most likely to break it: the one leak harness.

- a rotation with the log level at DEBUG (the Lambda runtime's root logger and Powertools' own,
  as AWS_LAMBDA_LOG_LEVEL / POWERTOOLS_LOG_LEVEL=DEBUG set them) and tracing on;
- at DEBUG, every refusal that carries a secret near it: two rotations in a row with a
  RotationToken, a propagation that never arrives (testSecret refuses the pending password), a
  secret document the parser refuses with a password inside it, a current password the cluster
  refuses;
- botocore's parameter validation refusing a request that carries a password: its error repeats
  the offending value (PutSecretValue's SecretString, UpdateUser's Passwords);
- the scanner's own self-test: with botocore's logger forced to DEBUG, the scanner must find the
  password botocore logs; a scanner that finds nothing there is blind, and the family fails.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3

from sandbox.sandbox import Sandbox, new_password
from tests.reliability.campaign.campaign import CaseResult
from tests.reliability.campaign.harness import Harness, RotationRun
from tests.reliability.campaign.leaks import LeakScanner


@contextlib.contextmanager
def _corrupt(event: str, corrupt: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """Make botocore's validator refuse a request: registered before the function's clients
    exist, so the clients built at the next cold start carry it."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    if session is None:
        raise RuntimeError("boto3 has no default session")

    def handler(params: dict[str, Any], **_kwargs: Any) -> None:
        corrupt(params)

    session.events.register(event, handler)
    try:
        yield
    finally:
        session.events.unregister(event, handler)


def _as_bytes(params: dict[str, Any]) -> None:
    params["SecretString"] = params["SecretString"].encode()


def _passwords_as_bytes(params: dict[str, Any]) -> None:
    mode = params.get("AuthenticationMode") or {}
    mode["Passwords"] = [p.encode() for p in mode.get("Passwords", [])]


def _one_rotation(
    harness: Harness,
    scanner: LeakScanner,
    *,
    expect_failure: str | None = None,
    secret: tuple[str, str] | None = None,
    rotations: int = 1,
) -> tuple[list[str], str]:
    """`rotations` rotations of `secret` (default: a fresh one) with a RotationToken, captured;
    `expect_failure` is a piece of the last one's `ErrorType: message`."""
    sandbox = harness.sandbox
    arn, user = secret or harness.new_secret("leak")
    run = RotationRun()
    driver = harness.driver(run, step_attempts=1)
    token = f"{'0' * 8}-rotation-token-{id(run):x}-xxxxxxxxxxxx"
    outcomes = []
    with scanner.capturing():
        harness.scanner = scanner
        for _ in range(rotations):
            outcomes.append(driver.rotate(arn, rotation_token=token))
            sandbox.view(arn)  # its passwords join the ones the scan looks for
    outcome = outcomes[-1]
    for attempt in (a for o in outcomes for a in o.attempts):
        if attempt.error:
            scanner.text("exceptions", f"{attempt.error_type}: {attempt.error}")
    problems = []
    if expect_failure is None and not all(o.succeeded for o in outcomes):
        problems.append(f"the rotation failed: {outcome.last_error}")
    if expect_failure is not None:
        error = outcome.last_error
        if error is None or expect_failure not in f"{error.error_type}: {error.error}":
            problems.append(f"expected '{expect_failure}', got {error}")
    sandbox.settle()
    leaks = scanner.scan(harness.secrets_of(arn, user) | {token})
    detail = f"{scanner.captured_chars} chars captured"
    if outcome.last_error is not None:
        detail += f"; refused: {outcome.last_error.error}"
    return problems + leaks, detail


def _lost_propagation(harness: Harness, prefix: str) -> tuple[str, str]:
    arn, user = harness.new_secret(prefix)
    harness.sandbox.lose_next_propagation(user)
    return arn, user


def _stale_current(harness: Harness, prefix: str) -> tuple[str, str]:
    """A secret whose AWSCURRENT password is not the user's (the user's own is another)."""
    sandbox = harness.sandbox
    user = f"{prefix}-stale-{uuid.uuid4().hex[:8]}"
    sandbox.create_user(user)
    return sandbox.create_secret(user, new_password()), user


def run_leak_cases(sandbox: Sandbox) -> Iterator[CaseResult]:
    with Harness(sandbox) as harness:
        # 1. DEBUG everywhere an operator can set it, tracing on.
        sandbox.configure_function(TRACING_ENABLED="true", POWERTOOLS_LOG_LEVEL="DEBUG")
        try:
            scanner = LeakScanner(debug=True)
            problems, detail = _one_rotation(harness, scanner)
            if not scanner.texts["traces"]:
                problems.append("no trace annotation was captured: the trace channel is unchecked")
            if not scanner.texts["log records"]:
                problems.append("no log record was captured at DEBUG")
            yield CaseResult(
                "leaks",
                "rotation at DEBUG with tracing",
                not problems,
                "; ".join(problems) or detail,
                leaks=len(problems),
            )
        finally:
            sandbox.configure_function(TRACING_ENABLED=None, POWERTOOLS_LOG_LEVEL=None)

        # 2. At DEBUG, refusals with a secret near them.
        sandbox.configure_function(POWERTOOLS_LOG_LEVEL="DEBUG", WAIT_TIMEOUT_SECONDS="1")
        try:
            for name, make, rotations, expected in (
                ("two rotations in a row at DEBUG", harness.new_secret, 2, None),
                (
                    "a propagation that never arrives, at DEBUG",
                    lambda prefix: _lost_propagation(harness, prefix),
                    1,
                    "PendingPasswordRejectedError",
                ),
                (
                    "a secret document the parser refuses, at DEBUG",
                    lambda prefix: harness.new_secret(prefix, port="not-a-port"),
                    1,
                    "SecretFormatError",
                ),
                (
                    "a current password the cluster refuses, at DEBUG",
                    lambda prefix: _stale_current(harness, prefix),
                    1,
                    "CurrentPasswordRejectedError",
                ),
            ):
                scanner = LeakScanner(debug=True)
                problems, detail = _one_rotation(
                    harness,
                    scanner,
                    expect_failure=expected,
                    secret=make("leak"),
                    rotations=rotations,
                )
                yield CaseResult(
                    "leaks", name, not problems, "; ".join(problems) or detail, leaks=len(problems)
                )
        finally:
            sandbox.configure_function()

        # 3. botocore's validator repeats the value it refuses.
        for name, event, corrupt, expected in (
            (
                "PutSecretValue refused by botocore's validator",
                "before-parameter-build.secrets-manager.PutSecretValue",
                _as_bytes,
                "PutSecretValue failed: ParamValidationError",
            ),
            (
                "UpdateUser refused by botocore's validator",
                "before-parameter-build.memorydb.UpdateUser",
                _passwords_as_bytes,
                "UpdateUser failed: ParamValidationError",
            ),
        ):
            with _corrupt(event, corrupt):
                sandbox.configure_function()  # a cold start: new clients carry the handler
                scanner = LeakScanner(debug=True)
                problems, detail = _one_rotation(harness, scanner, expect_failure=expected)
            sandbox.configure_function()
            yield CaseResult(
                "leaks", name, not problems, "; ".join(problems) or detail, leaks=len(problems)
            )

        # 4. The scanner is not blind: botocore forced to DEBUG does log the password.
        sandbox.configure_function()
        botocore_logger = logging.getLogger("botocore")
        saved = botocore_logger.level
        botocore_logger.setLevel(logging.DEBUG)
        try:
            scanner = LeakScanner(debug=True)
            problems, _detail = _one_rotation(harness, scanner)
        finally:
            botocore_logger.setLevel(saved)
        found = [p for p in problems if "appears" in p]
        yield CaseResult(
            "leaks",
            "scanner self-test (botocore forced to DEBUG must be caught)",
            bool(found),
            f"caught {len(found)} leak(s) it was meant to catch"
            if found
            else "the scanner missed botocore's DEBUG request log",
        )
