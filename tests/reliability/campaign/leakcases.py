"""Invariant 5 under the conditions most likely to break it.

- a rotation with the log level at DEBUG (the Lambda runtime's root logger and Powertools' own,
  as AWS_LAMBDA_LOG_LEVEL / POWERTOOLS_LOG_LEVEL=DEBUG set them) and tracing on;
- botocore's parameter validation refusing a request that carries a password: its error repeats
  the offending value (PutSecretValue's SecretString, UpdateUser's Passwords);
- the scanner's own self-test: with botocore's logger forced to DEBUG, the scanner must find the
  password botocore logs; a scanner that finds nothing there is blind, and the family fails.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import boto3

from sandbox.sandbox import Sandbox
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
    harness: Harness, scanner: LeakScanner, *, expect_failure: str | None = None
) -> tuple[list[str], str]:
    sandbox = harness.sandbox
    arn, user = harness.new_secret("leak")
    run = RotationRun()
    driver = harness.driver(run, step_attempts=1)
    token = f"{'0' * 8}-rotation-token-{id(run):x}-xxxxxxxxxxxx"
    with scanner.capturing():
        harness.scanner = scanner
        outcome = driver.rotate(arn, rotation_token=token)
    for attempt in outcome.attempts:
        if attempt.error:
            scanner.text("exceptions", attempt.error)
    problems = []
    if expect_failure is None and not outcome.succeeded:
        problems.append(f"the rotation failed: {outcome.last_error}")
    if expect_failure is not None:
        error = outcome.last_error
        if error is None or expect_failure not in (error.error or ""):
            problems.append(f"expected '{expect_failure}', got {error}")
    sandbox.settle()
    leaks = scanner.scan(harness.secrets_of(arn, user) | {token})
    detail = f"{scanner.captured_chars} chars captured"
    if outcome.last_error is not None:
        detail += f"; refused: {outcome.last_error.error}"
    return problems + leaks, detail


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

        # 2. botocore's validator repeats the value it refuses.
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

        # 3. The scanner is not blind: botocore forced to DEBUG does log the password.
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
