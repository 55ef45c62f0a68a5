"""Hand-made mutants of rotation/: does the test suite notice when a check, a wait or an order
goes missing? (`make mutants`; not a test module: pytest does not collect it.)

    python tools/mutants.py                    # unit suite, then integration for its survivors
    python tools/mutants.py --suite unit       # unit suite only (seconds)
    python tools/mutants.py --only verifier    # mutants of one area (or one id)
    python tools/mutants.py --list             # the catalogue and whether each still applies

Each mutant is a code pattern inside one named function (`Rotator._guard`, `wait_until_active`),
never a line number, so it survives edits elsewhere in the file. A pattern that no longer matches
exactly once in its function is reported as STALE (the code it described has changed: rewrite or
delete the mutant); `--strict` makes stale mutants fail the run. Whitespace in a pattern matches
any run of whitespace, so reformatting does not make a mutant stale.

Every mutant runs in a private copy of the repository (tracked files only, no bytecode written),
so the working tree is never edited and workers run in parallel. A mutant is KILLED when the suite
fails or hangs past the timeout, SURVIVED when it passes. A survivor with an `equivalent` reason
is listed apart: the reason says why no test can tell it from the original.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

SUITES: dict[str, tuple[str, ...]] = {
    "unit": ("tests/unit",),
    "integration": ("tests/integration",),
}


@dataclass(frozen=True)
class Mutant:
    id: str
    area: str
    path: str
    function: str
    """Qualified name of the function the pattern lives in: `Class.method` or `function`."""
    find: str
    replace: str
    what: str
    equivalent: str = ""
    """Why no test can tell this mutant from the original (empty: it must be killed)."""


def m(
    id_: str,
    area: str,
    path: str,
    function: str,
    find: str,
    replace: str,
    what: str,
    equivalent: str = "",
) -> Mutant:
    return Mutant(id_, area, path, function, find, replace, what, equivalent)


ROTATOR = "rotation/rotator.py"
WAITING = "rotation/waiting.py"
VERIFIER = "rotation/adapters/redis_verifier.py"
PASSWORDS = "rotation/passwords.py"
COMPOSITION = "rotation/composition.py"

# fmt: off
CATALOGUE: tuple[Mutant, ...] = (
    # -- the guard ------------------------------------------------------------------------------
    m("guard-no-rotation-check", "guard", ROTATOR, "Rotator._guard",
      "if not meta.rotation_enabled:", "if False:", "drop the rotation-enabled check"),
    m("guard-no-staged-check", "guard", ROTATOR, "Rotator._guard",
      "if stages is None:", "if False:", "drop the token-is-a-version check"),
    m("guard-no-pending-check", "guard", ROTATOR, "Rotator._guard",
      "if AWSCURRENT not in stages and AWSPENDING not in stages:", "if False:",
      "drop the token-is-pending check"),
    m("guard-pending-check-or", "guard", ROTATOR, "Rotator._guard",
      "if AWSCURRENT not in stages and AWSPENDING not in stages:",
      "if AWSCURRENT not in stages or AWSPENDING not in stages:",
      "token must be both pending and current"),
    m("guard-skipped", "guard", ROTATOR, "Rotator.handle",
      "meta = self._guard(request)", "meta = self._secrets.describe(request.secret_id)",
      "skip the guard"),
    m("guard-current-token-runs-step", "guard", ROTATOR, "Rotator.handle",
      "if token_is_current:", "if False:", "a token already AWSCURRENT runs its step again"),
    m("guard-current-finish-nothing", "guard", ROTATOR, "Rotator.handle",
      "if request.step is Step.FINISH:", "if False:",
      "a retried finishSecret after the label moved does nothing"),
    m("guard-budget-ignores-time-left", "waiting", ROTATOR, "Rotator.handle",
      "min(self._settings.wait_timeout_seconds, time_left)",
      "self._settings.wait_timeout_seconds", "the wait ignores the Lambda's remaining time"),
    m("guard-budget-ignores-setting", "waiting", ROTATOR, "Rotator.handle",
      "min(self._settings.wait_timeout_seconds, time_left)", "time_left",
      "the wait ignores WAIT_TIMEOUT_SECONDS"),
    # -- createSecret ---------------------------------------------------------------------------
    m("create-no-user-check", "createSecret", ROTATOR, "Rotator.create_pending",
      "self._rotatable_user(current)", "pass", "drop the rotatable-user check"),
    m("create-no-current-auth", "createSecret", ROTATOR, "Rotator.create_pending",
      "self._require_current_authenticates(current)", "pass",
      "drop the proof that AWSCURRENT works"),
    m("create-no-same-user", "createSecret", ROTATOR, "Rotator.create_pending",
      "self._require_same_user(current, pending)", "pass",
      "keep a pending value for another user"),
    m("create-rewrites-pending", "createSecret", ROTATOR, "Rotator.create_pending",
      'return StepResult("kept_existing", current.username, budget.waited)', "pass",
      "write a new value over an existing pending one"),
    m("create-drops-rotation-token", "createSecret", ROTATOR, "Rotator.create_pending",
      "request.rotation_token,", "None,", "lose the cross-account RotationToken"),
    m("create-copies-current-password", "createSecret", ROTATOR, "Rotator.create_pending",
      "current.with_password(new_password)",
      "current.with_password(current.password)", "write the old password as the new one"),
    m("create-ignores-length", "createSecret", ROTATOR, "Rotator.create_pending",
      "passwords.generate(self._settings.password_length)", "passwords.generate(32)",
      "ignore PASSWORD_LENGTH"),
    # -- setSecret ------------------------------------------------------------------------------
    m("set-no-same-user", "setSecret", ROTATOR, "Rotator.set_pending",
      "self._require_same_user(current, pending)", "pass",
      "set a pending password of another user"),
    m("set-no-validate", "setSecret", ROTATOR, "Rotator.set_pending",
      "passwords.validate(pending.password)", "pass",
      "send a password MemoryDB refuses"),
    m("set-no-wait", "setSecret", ROTATOR, "Rotator.set_pending",
      "user = self._wait_active(current.username, budget, known=self._rotatable_user(current))",
      "user = self._rotatable_user(current)", "skip the wait for an active user"),
    m("set-no-user-check", "setSecret", ROTATOR, "Rotator.set_pending",
      "known=self._rotatable_user(current)", "known=None",
      "drop the rotatable-user check (the wait reads the user instead)"),
    m("set-no-current-auth", "setSecret", ROTATOR, "Rotator.set_pending",
      "self._require_current_authenticates(current)", "pass",
      "drop the proof that AWSCURRENT works"),
    m("set-already-set-or", "setSecret", ROTATOR, "Rotator.set_pending",
      "user.password_count == len(desired) and self._authenticates(pending)",
      "user.password_count == len(desired) or self._authenticates(pending)",
      "call it set when only the count matches"),
    m("set-already-set-count-only", "setSecret", ROTATOR, "Rotator.set_pending",
      "user.password_count == len(desired) and self._authenticates(pending)",
      "user.password_count == len(desired)",
      "call it set when the count matches, without proving pending"),
    m("set-only-pending", "setSecret", ROTATOR, "Rotator.set_pending",
      "desired = _distinct(current.password, pending.password)",
      "desired = [pending.password]", "replace the set with pending alone"),
    m("set-no-busy-wait", "setSecret", ROTATOR, "Rotator._set_passwords",
      "self._wait_active(user_name, budget)", "return",
      "give up on InvalidUserStateFault instead of waiting it out"),
    # -- testSecret -----------------------------------------------------------------------------
    m("test-no-same-user", "testSecret", ROTATOR, "Rotator.prove_pending",
      "self._require_same_user(current, pending)", "pass",
      "prove a pending version of another user"),
    m("test-no-wait", "testSecret", ROTATOR, "Rotator.prove_pending",
      "self._wait_active(current.username, budget)", "pass",
      "prove before the change reached the cluster"),
    m("test-no-pending-proof", "testSecret", ROTATOR, "Rotator.prove_pending",
      "self._require_pending_authenticates(pending)", "pass",
      "pass without proving the new password"),
    m("test-no-current-proof", "testSecret", ROTATOR, "Rotator.prove_pending",
      "if not self._authenticates(current):", "if False:",
      "pass when the current password stopped working"),
    # -- finishSecret ---------------------------------------------------------------------------
    m("finish-no-proof", "finishSecret", ROTATOR, "Rotator.promote_pending",
      "self._require_pending_authenticates(pending)", "pass",
      "promote a password the cluster refuses"),
    m("finish-no-same-user", "finishSecret", ROTATOR, "Rotator.promote_pending",
      "self._require_same_user(current, pending)", "pass",
      "promote a pending version of another user"),
    m("finish-drop-before-promote", "finishSecret", ROTATOR, "Rotator.promote_pending",
      "self._secrets.promote(request.secret_id, token=request.token, from_version=current_version)"
      "\nreturn self._drop_old(pending, budget, verified=True, outcome=\"promoted\")",
      "result = self._drop_old(pending, budget, verified=True, outcome=\"promoted\")"
      "\nself._secrets.promote(request.secret_id, token=request.token, "
      "from_version=current_version)\nreturn result",
      "drop the old password before AWSCURRENT moves"),
    m("finish-no-promote", "finishSecret", ROTATOR, "Rotator.promote_pending",
      "self._secrets.promote(request.secret_id, token=request.token, from_version=current_version)",
      "pass", "never move AWSCURRENT"),
    m("finish-no-current-check", "finishSecret", ROTATOR, "Rotator.promote_pending",
      "if current_version is None:", "if False:",
      "promote from a secret without AWSCURRENT",
      equivalent="the guard already read a value at AWSCURRENT (`_current`) before this, so a "
      "secret without an AWSCURRENT version fails there with the same error type"),
    m("finish-retry-no-drop", "finishSecret", ROTATOR, "Rotator.complete_finish",
      'return self._drop_old(new, budget, verified=False, outcome="completed_drop")',
      'return StepResult("already_current", new.username, budget.waited)',
      "a retried finishSecret leaves the old password"),
    m("finish-retry-unverified", "finishSecret", ROTATOR, "Rotator.complete_finish",
      "verified=False", "verified=True",
      "a retried finishSecret drops without proving the new password"),
    m("finish-retry-ignores-keep", "finishSecret", ROTATOR, "Rotator.complete_finish",
      'if self._settings.old_password_policy == "keep":', "if False:",
      "a retried finishSecret ignores OLD_PASSWORD_POLICY=keep",
      equivalent="`_drop_old` checks the policy again and returns before any write"),
    m("finish-retry-no-user-check", "finishSecret", ROTATOR, "Rotator.complete_finish",
      "user = self._rotatable_user(new)", "user = self._users.describe(new.username)",
      "a retried finishSecret skips the rotatable-user check"),
    m("finish-retry-count-off", "finishSecret", ROTATOR, "Rotator.complete_finish",
      "if user.password_count <= 1:", "if user.password_count <= 2:",
      "a retried finishSecret thinks two passwords are one"),
    m("finish-drop-ignores-keep", "finishSecret", ROTATOR, "Rotator._drop_old",
      'if self._settings.old_password_policy == "keep":', "if False:",
      "drop the old password under OLD_PASSWORD_POLICY=keep"),
    m("finish-drop-check-inverted", "finishSecret", ROTATOR, "Rotator._drop_old",
      "if not verified:", "if verified:", "prove only what was already proven"),
    m("finish-drop-nothing", "finishSecret", ROTATOR, "Rotator._drop_old",
      "self._set_passwords(new.username, [new.password], budget)", "pass",
      "never drop the old password"),
    # -- shared checks --------------------------------------------------------------------------
    m("user-default-allowed", "guard", ROTATOR, "Rotator._rotatable_user",
      'if name == "default":', "if False:", "rotate the `default` user"),
    m("user-allow-list-ignored", "guard", ROTATOR, "Rotator._rotatable_user",
      "if allowed is not None and name not in allowed:", "if False:",
      "ignore ROTATION_ALLOWED_USERS"),
    m("user-auth-type-ignored", "guard", ROTATOR, "Rotator._rotatable_user",
      'if user.auth_type != "password":', "if False:", "rotate an IAM/no-password user"),
    m("user-arn-ignored", "guard", ROTATOR, "Rotator._rotatable_user",
      "if creds.user_arn is not None and creds.user_arn != user.arn:", "if False:",
      "ignore a user_arn of another user"),
    m("user-host-ignored", "guard", ROTATOR, "Rotator._rotatable_user",
      "if creds.endpoint is None:", "if False:", "accept a secret without host",
      equivalent="`_endpoint` raises the same SecretFormatError on the first proof, before any "
      "write (the duplicate check issue 8 asks to remove)"),
    m("same-user-ignored", "guard", ROTATOR, "Rotator._require_same_user",
      "if not current.same_user(pending):", "if False:",
      "accept a pending version of another user or endpoint"),
    m("pending-any-version", "guard", ROTATOR, "Rotator._pending",
      "version_id=request.token", "version_id=None",
      "read AWSPENDING without naming the token's version"),
    m("auth-current-inverted", "guard", ROTATOR, "Rotator._require_current_authenticates",
      "if not self._authenticates(current):", "if self._authenticates(current):",
      "refuse a working AWSCURRENT, accept a broken one"),
    m("distinct-always-two", "setSecret", ROTATOR, "_distinct",
      "if current.get_secret_value() == pending.get_secret_value():", "if False:",
      "send the same password twice"),
    # -- waiting --------------------------------------------------------------------------------
    m("wait-ignores-status", "waiting", WAITING, "wait_until_active",
      "if user.active:", "if True:", "never wait"),
    m("wait-ignores-deleting", "waiting", WAITING, "wait_until_active",
      'if user.status == "deleting":', "if False:", "wait for a user being deleted"),
    m("wait-no-deadline", "waiting", WAITING, "wait_until_active",
      "if remaining <= 0:", "if False:", "wait past the deadline"),
    m("wait-sleep-past-deadline", "waiting", WAITING, "wait_until_active",
      "budget.sleep(min(backoff.interval(budget.clock() - start), remaining))",
      "budget.sleep(backoff.interval(budget.clock() - start))", "sleep past the deadline"),
    m("wait-no-sleep", "waiting", WAITING, "wait_until_active",
      "budget.sleep(min(backoff.interval(budget.clock() - start), remaining))", "pass",
      "poll without sleeping"),
    m("wait-known-reused", "waiting", WAITING, "wait_until_active",
      "known = None", "pass", "poll the first description forever"),
    m("wait-waited-reset", "waiting", WAITING, "wait_until_active",
      "budget.waited += budget.clock() - start", "budget.waited = budget.clock() - start",
      "count only the last wait of a step"),
    m("backoff-no-growth", "waiting", WAITING, "Backoff.interval",
      "max(self.initial, elapsed * _GROWTH)", "self.initial", "never back off"),
    m("backoff-no-ceiling", "waiting", WAITING, "Backoff.interval",
      "min(self.maximum, max(self.initial, elapsed * _GROWTH))",
      "max(self.initial, elapsed * _GROWTH)", "no ceiling on the interval"),
    # -- passwords ------------------------------------------------------------------------------
    m("password-no-class-check", "passwords", PASSWORDS, "generate",
      "if all(any(ch in cls for ch in candidate) for cls in classes):", "if True:",
      "accept a candidate missing a character class"),
    m("password-no-punctuation", "passwords", PASSWORDS, "generate",
      "string.digits, _PUNCTUATION)", "string.digits)",
      "no punctuation required"),
    m("password-no-forbidden-check", "passwords", PASSWORDS, "validate",
      "ch in _FORBIDDEN or ", "", "accept , \" / @ and space"),
    m("password-no-length-check", "passwords", PASSWORDS, "validate",
      "check_length(len(value))", "pass", "accept any length"),
    # -- the verifier ---------------------------------------------------------------------------
    m("tls-no-hostname-check", "verifier", VERIFIER, "RedisVerifier.tls_context",
      "context.check_hostname = True", "context.check_hostname = False",
      "TLS without host-name verification"),
    m("tls-no-cert-check", "verifier", VERIFIER, "RedisVerifier.tls_context",
      "context.check_hostname = True\ncontext.verify_mode = ssl.CERT_REQUIRED",
      "context.check_hostname = False\ncontext.verify_mode = ssl.CERT_NONE",
      "TLS without certificate verification"),
    m("tls-no-ca-bundle", "verifier", VERIFIER, "RedisVerifier.tls_context",
      "context.load_verify_locations(cafile=str(self._ca_bundle))", "pass",
      "ignore CA_BUNDLE_PATH"),
    m("tls-wrap-no-server-name", "verifier", VERIFIER, "_shared_context_connection",
      "server_hostname=self.host", "server_hostname=None",
      "wrap the socket without the host name to check"),
    m("tls-shared-context-unused", "verifier", VERIFIER, "RedisVerifier._tls_options",
      '"connection_class": self._tls_connection,', "",
      "let redis-py build its own TLS context per connection"),
    m("verifier-plaintext", "verifier", VERIFIER, "RedisVerifier.authenticates",
      "**(self._tls_options() if endpoint.tls else {\"connection_class\": redis.Connection}),",
      "\"connection_class\": redis.Connection,", "speak plaintext to a TLS endpoint"),
    m("verifier-auth-error-true", "verifier", VERIFIER, "RedisVerifier.authenticates",
      "except redis.AuthenticationError:\nreturn False",
      "except redis.AuthenticationError:\n    return True", "a refused AUTH counts as proof"),
    m("verifier-noperm-false", "verifier", VERIFIER, "RedisVerifier.authenticates",
      "except NoPermissionError:", "except NoPermissionError as _unused:\n    return False\n"
      "except ZeroDivisionError:", "a least-privilege user cannot be proven"),
    m("verifier-ping-ignored", "verifier", VERIFIER, "RedisVerifier.authenticates",
      "return bool(client.ping())", "return True", "pass without a round trip",
      equivalent="the single-connection client AUTHs when it is built, so an unreachable server "
      "or a refused AUTH fails before PING; PING's answer to a client that authenticated is "
      "always PONG"),
    m("verifier-unreachable-false", "verifier", VERIFIER, "RedisVerifier.authenticates",
      "except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:",
      "except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:\n    return False\n"
      "except ZeroDivisionError as exc:",
      "an unreachable cluster reads as a refused password"),
    m("verifier-reason-cert", "verifier", VERIFIER, "_reason",
      'return "TLS certificate did not verify"', 'return "connection refused"',
      "a certificate failure reported as something else"),
    # -- composition ----------------------------------------------------------------------------
    m("trace-no-subsegment", "composition", COMPOSITION, "_traced",
      'with tracer.provider.in_subsegment(f"## {request.step.value}") as subsegment:',
      'with __import__("contextlib").nullcontext('
      '__import__("unittest.mock", fromlist=["MagicMock"]).MagicMock()) as subsegment:',
      "tracing on, but no subsegment"),
    m("trace-no-annotation", "composition", COMPOSITION, "_traced",
      'subsegment.put_annotation("step", request.step.value)', "pass",
      "a subsegment without the step annotation"),
    m("time-left-no-reserve", "composition", COMPOSITION, "Service.time_left",
      "remaining_millis / 1000 - reserve", "remaining_millis / 1000",
      "wait until the Lambda's last second"),
)
# fmt: on


@dataclass
class Applied:
    mutant: Mutant
    source: str = ""
    problem: str = ""


@dataclass
class Result:
    mutant: Mutant
    status: str
    """killed, survived, stale, timeout or flaky (killed only by a test that passes alone)."""
    detail: str = ""
    seconds: float = 0.0
    suites: list[str] = field(default_factory=list)


def _function_span(tree: ast.Module, qualname: str) -> tuple[int, int] | None:
    parts = qualname.split(".")
    body: Sequence[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in parts:
        node = next(
            (
                n
                for n in body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and n.name == part
            ),
            None,
        )
        if node is None:
            return None
        body = node.body
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return first, node.end_lineno or node.lineno


def _pattern(find: str) -> re.Pattern[str]:
    pieces = [re.escape(piece) for piece in re.split(r"\s+", find.strip())]
    return re.compile(r"\s+".join(pieces))


def _indented(replace: str, indent: str) -> str:
    lines = replace.split("\n")
    return "\n".join([lines[0], *(indent + line for line in lines[1:])])


def apply(mutant: Mutant) -> Applied:
    """The file's text with the mutant in it, or why the mutant no longer applies."""
    path = ROOT / mutant.path
    if not path.exists():
        return Applied(mutant, problem=f"{mutant.path} does not exist")
    text = path.read_text()
    span = _function_span(ast.parse(text), mutant.function)
    if span is None:
        return Applied(mutant, problem=f"no function {mutant.function} in {mutant.path}")
    lines = text.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: span[0] - 1])
    end = sum(len(line) for line in lines[: span[1]])
    body = text[start:end]
    matches = list(_pattern(mutant.find).finditer(body))
    if len(matches) != 1:
        return Applied(
            mutant,
            problem=f"pattern found {len(matches)} times in {mutant.function} (expected once)",
        )
    match = matches[0]
    line_start = body.rfind("\n", 0, match.start()) + 1
    rest = body[line_start:]
    indent = rest[: len(rest) - len(rest.lstrip(" \t"))]
    mutated = body[: match.start()] + _indented(mutant.replace, indent) + body[match.end() :]
    source = text[:start] + mutated + text[end:]
    try:
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        return Applied(mutant, problem=f"the mutated file does not compile: {exc.msg}")
    if source == text:
        return Applied(mutant, problem="the replacement changes nothing")
    return Applied(mutant, source=source)


def _set_root(root: Path) -> None:
    global ROOT  # noqa: PLW0603 - one checkout per run, chosen on the command line
    ROOT = root


def _copy_tree(destination: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _run_suite(copy: Path, suite: str, timeout: float, *, node: bool = False) -> tuple[str, str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    targets = [suite] if node else list(SUITES[suite])
    command = [PYTHON, "-m", "pytest", *targets, "-x", "-q", "-p", "no:cacheprovider"]
    command += ["--no-header", "-o", "addopts=", "-p", "no:randomly"]
    try:
        run = subprocess.run(
            command, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return "timeout", f"{suite} suite ran past {timeout:.0f}s"
    if run.returncode == 0:
        return "survived", ""
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", run.stdout, flags=re.MULTILINE)
    return "killed", failed[0] if failed else f"{suite} suite exited {run.returncode}"


class Worker:
    """A private copy of the repository; one mutant at a time is written into it."""

    def __init__(self, base: Path, index: int) -> None:
        self.copy = base / f"worker-{index}"
        _copy_tree(self.copy)

    def run(self, applied: Applied, suites: Sequence[str], timeout: float) -> Result:
        target = self.copy / applied.mutant.path
        original = target.read_text()
        started = time.monotonic()
        target.write_text(applied.source)
        try:
            status, detail, ran = "survived", "", []
            for suite in suites:
                ran.append(suite)
                status, detail = _run_suite(self.copy, suite, timeout)
                if status != "survived":
                    break
            if status == "killed" and "::" in detail:
                # A test that fails only in the whole run (timing under load) did not kill it.
                again, _ = _run_suite(self.copy, detail, timeout, node=True)
                if again == "survived":
                    status, detail = "flaky", f"{detail} failed in the suite, passed alone"
        finally:
            target.write_text(original)
        return Result(applied.mutant, status, detail, time.monotonic() - started, ran)


def _select(only: Sequence[str]) -> list[Mutant]:
    if not only:
        return list(CATALOGUE)
    chosen = [mu for mu in CATALOGUE if mu.area in only or mu.id in only]
    if not chosen:
        raise SystemExit(f"no mutant or area named {', '.join(only)}")
    return chosen


def run(mutants: Iterable[Mutant], suite_plan: Sequence[str], jobs: int) -> list[Result]:
    applied = [apply(mu) for mu in mutants]
    results = [Result(a.mutant, "stale", a.problem) for a in applied if a.problem]
    runnable = [a for a in applied if not a.problem]
    with tempfile.TemporaryDirectory(prefix="mutants-") as scratch:
        workers = [Worker(Path(scratch), i) for i in range(max(1, min(jobs, len(runnable))))]
        for suite in suite_plan:
            status, detail = _run_suite(workers[0].copy, suite, timeout=1800)
            if status != "survived":
                raise SystemExit(f"the {suite} suite fails without mutants: {detail}")
        pending = list(runnable)
        with concurrent.futures.ThreadPoolExecutor(len(workers)) as pool:
            free = list(workers)
            futures: dict[concurrent.futures.Future[Result], Worker] = {}
            while pending or futures:
                while pending and free:
                    worker = free.pop()
                    item = pending.pop(0)
                    timeout = 60.0 if suite_plan == ["unit"] else 600.0
                    futures[pool.submit(worker.run, item, suite_plan, timeout)] = worker
                done, _ = concurrent.futures.wait(
                    futures, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in done:
                    free.append(futures.pop(future))
                    result = future.result()
                    results.append(result)
                    print(_line(result), flush=True)
    order = {mu.id: i for i, mu in enumerate(CATALOGUE)}
    return sorted(results, key=lambda r: order[r.mutant.id])


def _line(result: Result) -> str:
    mu = result.mutant
    status = result.status.upper()
    if result.status == "survived" and mu.equivalent:
        status = "EQUIVALENT"
    where = f" by {result.detail}" if result.status == "killed" else ""
    return f"{status:<10} {mu.id:<32} {mu.area:<12} {mu.what}{where}"


def report(results: Sequence[Result], seconds: float) -> str:
    counted = [r for r in results if r.status not in ("stale", "flaky")]
    killed = [r for r in counted if r.status in ("killed", "timeout")]
    survived = [r for r in counted if r.status == "survived" and not r.mutant.equivalent]
    equivalent = [r for r in counted if r.status == "survived" and r.mutant.equivalent]
    stale = [r for r in results if r.status == "stale"]
    flaky = [r for r in results if r.status == "flaky"]
    out = [
        "",
        "| area | mutants | killed | survived | equivalent |",
        "| --- | --- | --- | --- | --- |",
    ]
    for area in dict.fromkeys(r.mutant.area for r in counted):
        mine = [r for r in counted if r.mutant.area == area]
        out.append(
            f"| {area} | {len(mine)} | "
            f"{sum(r in killed for r in mine)} | {sum(r in survived for r in mine)} | "
            f"{sum(r in equivalent for r in mine)} |"
        )
    rate = len(killed) / len(counted) if counted else 0.0
    scored = len(counted) - len(equivalent)
    rate_scored = len(killed) / scored if scored else 0.0
    out += [
        "",
        f"mutants {len(counted)}, killed {len(killed)}, survived {len(survived)}, "
        f"equivalent {len(equivalent)}, stale {len(stale)}, flaky {len(flaky)}; "
        f"kill rate {rate:.0%} "
        f"({rate_scored:.0%} of the non-equivalent) in {seconds:.0f}s",
    ]
    for title, group in (
        ("survived", survived),
        ("equivalent", equivalent),
        ("stale", stale),
        ("flaky", flaky),
    ):
        if group:
            out.append(f"\n{title}:")
            for r in group:
                reason = r.mutant.equivalent if title == "equivalent" else r.detail
                out.append(f"  {r.mutant.id} ({r.mutant.function}): {r.mutant.what}. {reason}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument(
        "--suite",
        choices=("unit", "unit+integration", "integration"),
        default="unit+integration",
        help="unit+integration runs integration only for the unit suite's survivors",
    )
    parser.add_argument("--only", nargs="*", default=[], help="areas or mutant ids")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--list", action="store_true", help="the catalogue, without running")
    parser.add_argument("--strict", action="store_true", help="stale mutants fail the run")
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="another checkout (a git work tree) to mutate"
    )
    args = parser.parse_args(argv)
    _set_root(args.root.resolve())
    # A terminated run still removes its copies of the repository.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    mutants = _select(args.only)
    if args.list:
        for mu in mutants:
            problem = apply(mu).problem
            print(f"{'STALE' if problem else 'ok':<6} {mu.id:<32} {mu.function:<36} {problem}")
        return 0
    started = time.monotonic()
    if args.suite == "unit+integration":
        results = run(mutants, ["unit"], args.jobs)
        survivors = [r.mutant for r in results if r.status in ("survived", "flaky")]
        if survivors:
            print(f"\n{len(survivors)} unit survivors against tests/integration:", flush=True)
            again = {r.mutant.id: r for r in run(survivors, ["integration"], args.jobs)}
            results = [again.get(r.mutant.id, r) for r in results]
    else:
        results = run(mutants, [args.suite], args.jobs)
    print(report(results, time.monotonic() - started))
    stale = any(r.status == "stale" for r in results)
    return 1 if args.strict and stale else 0


if __name__ == "__main__":
    sys.exit(main())
