"""Drift and recovery: states the service finds when something else got there first.

Each scenario returns what the service did, checked against the real redis-server; the operator's
side of each is written up in README.md, "When a rotation fails".
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

from moto.secretsmanager.exceptions import InvalidRequestException

from sandbox.driver import RotationOutcome
from sandbox.sandbox import Sandbox, new_password
from tests.reliability.campaign.campaign import CaseResult
from tests.reliability.campaign.faults import Fault
from tests.reliability.campaign.harness import Harness, RotationRun, function_timeout
from tests.reliability.campaign.invariants import InvariantChecker


class ScenarioFailed(AssertionError):
    pass


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise ScenarioFailed(what)


def _end_state(harness: Harness, arn: str, user: str) -> None:
    """Invariants 1, 2 and 4 on the final state."""
    checker = InvariantChecker(
        lambda: harness.sandbox.view(arn), harness.sandbox, harness.oracle, user
    ).start()
    checker.check_end("after recovery")
    problems = [v for v in checker.violations if "did not move" not in v]
    _expect(not problems, "; ".join(problems))


def changed_outside(harness: Harness) -> str:
    """Someone reset the user's password outside the service: AWSCURRENT no longer works."""
    sandbox = harness.sandbox
    arn, user = harness.new_secret("drift")
    outside = new_password()
    sandbox.passwords_seen.add(outside)
    sandbox.memorydb_client.update_user(
        UserName=user, AuthenticationMode={"Type": "password", "Passwords": [outside]}
    )
    sandbox.settle()
    run = RotationRun()
    driver = harness.driver(run)
    sandbox.clear_calls()
    outcome = driver.rotate(arn)
    error = outcome.last_error
    _expect(not outcome.succeeded, "the rotation went ahead with a dead AWSCURRENT")
    _expect(
        error is not None and error.error_type == "CurrentPasswordRejectedError",
        f"unexpected failure {error}",
    )
    writes = {"PutSecretValue", "UpdateUser", "UpdateSecretVersionStage"}
    _expect(
        not writes & set(sandbox.calls()),
        "it wrote something",
    )
    _expect(sandbox.authenticates(user, outside), "the outside password stopped working")
    # The operator's fix: clear the stale AWSPENDING, store the working password, rotate again.
    _operator_clears_pending(sandbox, arn, outcome.token)
    sandbox.sm_client.put_secret_value(
        SecretId=arn, SecretString=_document_with(sandbox, arn, outside)
    )
    retry = driver.rotate(arn)
    _expect(retry.succeeded, f"the rotation after the fix failed: {retry.last_error}")
    sandbox.settle()
    _end_state(harness, arn, user)
    return (
        "refused at createSecret (CurrentPasswordRejectedError), nothing written; "
        "rotates after the fix"
    )


def extra_password_outside(harness: Harness) -> str:
    """Someone added a second password by hand: the rotation takes the slot back."""
    sandbox = harness.sandbox
    arn, user = harness.new_secret("drift")
    current = sandbox.view(arn).password("AWSCURRENT")
    _expect(current is not None, "the secret has no AWSCURRENT password")
    assert current is not None
    extra = new_password()
    sandbox.passwords_seen.add(extra)
    sandbox.memorydb_client.update_user(
        UserName=user, AuthenticationMode={"Type": "password", "Passwords": [current, extra]}
    )
    sandbox.settle()
    outcome = harness.driver(RotationRun()).rotate(arn)
    _expect(outcome.succeeded, f"rotation failed: {outcome.last_error}")
    sandbox.settle()
    _expect(not sandbox.authenticates(user, extra), "the hand-added password still works")
    _end_state(harness, arn, user)
    return (
        "rotates; the hand-added password is replaced by the new one, as the slot is the service's"
    )


def stale_pending(harness: Harness) -> str:
    """A rotation failed at testSecret (its propagation was lost) and left AWSPENDING behind."""
    sandbox = harness.sandbox
    arn, user = harness.new_secret("drift")
    first = sandbox.view(arn).password("AWSCURRENT")
    run = RotationRun()
    driver = harness.driver(run)
    failed = _failed_rotation(harness, arn, user)
    _expect(
        failed.failed_step == "testSecret"
        and failed.last_error is not None
        and failed.last_error.error_type == "PendingPasswordRejectedError",
        f"expected testSecret to refuse the pending password, got {failed.last_error}",
    )
    view = sandbox.view(arn)
    _expect(view.password("AWSCURRENT") == first, "AWSCURRENT moved in the failed rotation")
    _expect(view.version_with("AWSPENDING") == failed.token, "AWSPENDING is not left behind")
    _expect(first is not None and sandbox.authenticates(user, first), "AWSCURRENT stopped working")
    try:
        driver.rotate(arn)
    except InvalidRequestException as exc:
        _expect("previous rotation isn't complete" in str(exc), f"refused otherwise: {exc}")
    else:
        raise ScenarioFailed("a new rotation started over a stale AWSPENDING")
    # The function refuses a token that is not the pending one.
    other = str(uuid.uuid4())
    sandbox.put_version(arn, other)
    try:
        driver.invoke(arn, "createSecret", other)
    except Exception as exc:  # noqa: BLE001 - judged by its message
        _expect("not AWSPENDING" in str(exc), f"another token refused otherwise: {exc}")
    else:
        raise ScenarioFailed("createSecret ran for a token that is not AWSPENDING")
    # What Secrets Manager does next: reattempt the failed rotation with its own token.
    retry = driver.rotate(arn, token=failed.token)
    _expect(retry.succeeded, f"the reattempt failed: {retry.last_error}")
    _expect(sandbox.view(arn).version_with("AWSCURRENT") == failed.token, "AWSCURRENT elsewhere")
    sandbox.settle()
    _expect(first is not None and not sandbox.authenticates(user, first), "old password works")
    _end_state(harness, arn, user)

    # The other way out: the operator removes the stale label and rotates afresh.
    arn, user = harness.new_secret("drift")
    failed = _failed_rotation(harness, arn, user)
    _operator_clears_pending(sandbox, arn, failed.token)
    fresh = driver.rotate(arn)
    _expect(fresh.succeeded, f"the fresh rotation failed: {fresh.last_error}")
    sandbox.settle()
    stale_password = sandbox.view(arn).values[failed.token]["password"]
    _expect(not sandbox.authenticates(user, stale_password), "the stale password still works")
    _end_state(harness, arn, user)
    return (
        "new RotateSecret refused while AWSPENDING is stale; the reattempt with the old token "
        "re-sets the password set and completes; clearing the label and rotating also works"
    )


def finish_crashed_after_label(harness: Harness) -> str:
    """finishSecret died right after moving AWSCURRENT, before dropping the old password."""
    sandbox = harness.sandbox
    kill = Fault(-1, "after", "kill", operation="UpdateSecretVersionStage")
    arn, user = harness.new_secret("drift")
    old_first = sandbox.view(arn).password("AWSCURRENT")
    run = harness.rotate(arn, user, fault=kill)
    _expect(run.kills == 1 and run.succeeded, f"expected one kill and success: {run.summary()}")
    _expect(not run.violations, "; ".join(run.violations))
    _expect(sandbox.password_count(user) == 1, "the old password was never dropped")
    view = sandbox.view(arn)
    _expect(old_first is not None and not sandbox.authenticates(user, old_first), "old works")
    _expect(sandbox.authenticates(user, view.password("AWSCURRENT") or ""), "new refused")

    # If Secrets Manager never retried it: the old password lingers until the next rotation.
    arn, user = harness.new_secret("drift")
    old = sandbox.view(arn).password("AWSCURRENT")
    driver = harness.driver(RotationRun(), step_attempts=1)
    with harness.injector.armed(kill):
        outcome = driver.rotate(arn)
    _expect(not outcome.succeeded, "the kill did not stop finishSecret")
    view = sandbox.view(arn)
    _expect(view.version_with("AWSCURRENT") == outcome.token, "AWSCURRENT did not move")
    _expect(sandbox.password_count(user) == 2, "the old password left the slot early")
    sandbox.settle()
    _expect(old is not None and sandbox.authenticates(user, old), "old password dropped early")
    sandbox.finish_rotation(arn, outcome.token)
    nxt = harness.driver(RotationRun()).rotate(arn)
    _expect(nxt.succeeded, f"the next rotation failed: {nxt.last_error}")
    sandbox.settle()
    _expect(old is not None and not sandbox.authenticates(user, old), "old password survived")
    _end_state(harness, arn, user)
    return (
        "the retried finishSecret sees the token AWSCURRENT and drops the old password; "
        "without a retry the next rotation replaces it"
    )


def interrupted_by_timeout(harness: Harness) -> str:
    """The user stays `modifying` longer than the function may wait, on every retry."""
    sandbox = harness.sandbox
    sandbox.configure_function(CONNECT_TIMEOUT_SECONDS="0.5")
    try:
        arn, user = harness.new_secret("drift")
        run = RotationRun()
        driver = harness.driver(run, timeout_seconds=function_timeout(3.0))
        sandbox.hold_modifying(user, 30.0)
        outcome = driver.rotate(arn)
        error = outcome.last_error
        _expect(not outcome.succeeded, "the rotation did not wait")
        _expect(
            error is not None and error.error_type == "WaitTimeoutError",
            f"unexpected failure {error}",
        )
        _expect(sandbox.view(arn).version_with("AWSCURRENT") != outcome.token, "promoted early")
        sandbox.end_hold(user)  # the other change finished
        retry = driver.rotate(arn, token=outcome.token)
        _expect(retry.succeeded, f"the reattempt failed: {retry.last_error}")
        sandbox.settle()
        _end_state(harness, arn, user)
    finally:
        sandbox.configure_function(CONNECT_TIMEOUT_SECONDS=None)
    return "stops with WaitTimeoutError before the Lambda's own timeout; the reattempt completes"


SCENARIOS: tuple[tuple[str, Callable[[Harness], str]], ...] = (
    ("passwords changed outside the service", changed_outside),
    ("a password added outside the service", extra_password_outside),
    ("stale AWSPENDING from a failed rotation", stale_pending),
    ("finishSecret crashed after moving the label", finish_crashed_after_label),
    ("rotation interrupted by the Lambda's timeout", interrupted_by_timeout),
)


def run_scenario(harness: Harness, name: str, scenario: Callable[[Harness], str]) -> CaseResult:
    try:
        detail = scenario(harness)
    except ScenarioFailed as exc:
        return CaseResult("drift", name, False, str(exc))
    return CaseResult("drift", name, True, detail)


def run_drift(sandbox: Sandbox) -> Iterator[CaseResult]:
    with Harness(sandbox) as harness:
        for name, scenario in SCENARIOS:
            yield run_scenario(harness, name, scenario)


# -- helpers --------------------------------------------------------------------------------------


def _failed_rotation(harness: Harness, arn: str, user: str) -> RotationOutcome:
    """A rotation whose password set never reaches the cluster: testSecret refuses it."""
    sandbox = harness.sandbox
    lost = {"done": False}

    def lose(step: str, attempt: int) -> None:
        if step == "setSecret" and not lost["done"]:
            lost["done"] = True
            sandbox.lose_next_propagation(user)

    return harness.driver(RotationRun(), before_step=lose).rotate(arn)


def _operator_clears_pending(sandbox: Sandbox, arn: str, token: str) -> None:
    sandbox.sm_client.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=token
    )


def _document_with(sandbox: Sandbox, arn: str, password: str) -> str:
    view = sandbox.view(arn)
    version = view.version_with("AWSCURRENT")
    _expect(version is not None, "the secret has no AWSCURRENT")
    document = dict(view.values[str(version)])
    document["password"] = password
    return json.dumps(document)
