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
PROOF = "rotation/proof.py"
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
      "if AWSPENDING not in stages:", "if False:", "drop the token-is-pending check"),
    m("guard-no-previous-check", "guard", ROTATOR, "Rotator._guard",
      "if AWSPREVIOUS in stages:", "if False:", "finish a version that is also AWSPREVIOUS"),
    m("guard-current-not-early", "guard", ROTATOR, "Rotator._guard",
      "if AWSCURRENT in stages:\nreturn meta", "if False:\n    return meta",
      "a token already AWSCURRENT must also be AWSPENDING"),
    m("guard-skipped", "guard", ROTATOR, "Rotator.handle",
      "meta = self._guard(request)", "meta = self._secrets.describe(request.secret_id)",
      "skip the guard"),
    m("guard-current-token-runs-step", "guard", ROTATOR, "Rotator.handle",
      "if AWSCURRENT in meta.versions[request.token]:", "if False:",
      "a token already AWSCURRENT runs its step again"),
    m("guard-current-finish-nothing", "guard", ROTATOR, "Rotator.handle",
      "if request.step is Step.FINISH:", "if False:",
      "a retried finishSecret after the label moved does nothing"),
    m("guard-budget-ignores-time-left", "waiting", ROTATOR, "Rotator.handle",
      "min(self._settings.wait_timeout_seconds, time_left)",
      "self._settings.wait_timeout_seconds", "the wait ignores the Lambda's remaining time"),
    m("guard-budget-ignores-setting", "waiting", ROTATOR, "Rotator.handle",
      "min(self._settings.wait_timeout_seconds, time_left)", "time_left",
      "the wait ignores WAIT_TIMEOUT_SECONDS"),
    m("user-default-allowed", "guard", ROTATOR, "Rotator._locate",
      'if name == "default":', "if False:", "rotate the `default` user"),
    m("user-allow-list-ignored", "guard", ROTATOR, "Rotator._locate",
      "if allowed is not None and name not in allowed:", "if False:",
      "ignore ROTATION_ALLOWED_USERS"),
    m("user-deleting-ignored", "guard", ROTATOR, "Rotator._locate",
      'if user.status == "deleting":', "if False:", "rotate a user being deleted"),
    m("user-auth-type-ignored", "guard", ROTATOR, "Rotator._locate",
      'if user.auth_type != "password":', "if False:", "rotate an IAM/no-password user"),
    m("user-disabled-ignored", "guard", ROTATOR, "Rotator._locate",
      "if user.disabled:", "if False:", "rotate a user whose access string is off"),
    m("user-arn-ignored", "guard", ROTATOR, "Rotator._locate",
      "if creds.user_arn is not None and creds.user_arn != user.arn:", "if False:",
      "ignore a user_arn of another user"),
    m("user-owner-ignored", "guard", ROTATOR, "Rotator._locate",
      "if owner is not None and owner != meta.arn:", "if False:",
      "rotate a user another secret rotates"),
    m("user-endpoints-unchecked", "guard", ROTATOR, "Rotator._locate",
      "_check_endpoints(creds, topology)", "pass",
      "send passwords to a host MemoryDB does not name"),
    m("endpoint-plaintext-cluster", "guard", ROTATOR, "_check_endpoints",
      "if not cluster.tls:", "if False:", "rotate on a cluster without TLS"),
    m("endpoint-any-host", "guard", ROTATOR, "_check_endpoints",
      "if serving is None:", "if False:", "accept a host no cluster of the user serves"),
    m("endpoint-ssl-mismatch", "guard", ROTATOR, "_check_endpoints",
      "if creds.ssl != serving.tls:", "if False:", "accept ssl that disagrees with the cluster"),
    m("pair-identity-unchecked", "guard", ROTATOR, "Rotator._check_pair",
      "if any(getattr(current, name) != getattr(pending, name) for name in identity):",
      "if False:", "accept a pending version of another user or endpoint"),
    m("pair-edit-unchecked", "guard", ROTATOR, "Rotator._check_pair",
      "if changed:", "if False:", "finish over an edit made to AWSCURRENT"),
    m("pair-unchecked", "guard", ROTATOR, "Rotator._pair",
      "self._check_pair(current, pending)", "pass", "never compare AWSCURRENT and AWSPENDING"),
    m("pending-any-version", "guard", ROTATOR, "Rotator._pair",
      "self._credentials(request.secret_id, AWSPENDING, request.token)",
      "self._credentials(request.secret_id, AWSPENDING, None)",
      "read AWSPENDING without naming the token's version"),
    m("claim-over-owner", "guard", ROTATOR, "Rotator._claim",
      "if located.owner is None:", "if False:", "never claim the user"),
    # -- createSecret ---------------------------------------------------------------------------
    m("create-no-pair-check", "createSecret", ROTATOR, "Rotator.create_pending",
      "self._check_pair(current, pending)", "pass", "keep a pending value for another user"),
    m("create-no-rules", "createSecret", ROTATOR, "Rotator.create_pending",
      'self._check_rules(current, "AWSCURRENT")', "pass",
      "accept an AWSCURRENT password MemoryDB would refuse"),
    m("create-no-current-proof", "createSecret", ROTATOR, "Rotator.create_pending",
      "self._require_everywhere(current, located, budget, AWSCURRENT)", "pass",
      "drop the proof that AWSCURRENT works"),
    m("create-rewrites-pending", "createSecret", ROTATOR, "Rotator.create_pending",
      "return self._result(Outcome.KEPT_EXISTING, budget, located)", "pass",
      "write a new value over an existing pending one"),
    m("create-no-claim", "createSecret", ROTATOR, "Rotator.create_pending",
      "self._claim(located, meta)", "pass", "never claim the user"),
    m("create-drops-rotation-token", "createSecret", ROTATOR, "Rotator.create_pending",
      "request.token, value, request.rotation_token)", "request.token, value, None)",
      "lose the cross-account RotationToken"),
    m("create-copies-current-password", "createSecret", ROTATOR, "Rotator.create_pending",
      "current.with_password(passwords.generate(self._settings.password_length))",
      "current.with_password(current.password)", "write the old password as the new one"),
    m("create-ignores-length", "createSecret", ROTATOR, "Rotator.create_pending",
      "passwords.generate(self._settings.password_length)", "passwords.generate(32)",
      "ignore PASSWORD_LENGTH"),
    # -- setSecret ------------------------------------------------------------------------------
    m("set-no-rules", "setSecret", ROTATOR, "Rotator.set_pending",
      'self._check_rules(pending, "AWSPENDING")', "pass",
      "send a password MemoryDB refuses"),
    m("set-no-wait", "setSecret", ROTATOR, "Rotator.set_pending",
      "user = wait_until_active(\nself._users, current.username, budget, self._backoff, "
      "known=located.user\n)", "user = located.user", "skip the wait for an active user"),
    m("set-no-current-proof", "setSecret", ROTATOR, "Rotator.set_pending",
      "self._require_everywhere(current, located, budget, AWSCURRENT)", "pass",
      "drop the proof that AWSCURRENT works"),
    m("set-already-set-or", "setSecret", ROTATOR, "Rotator.set_pending",
      "user.password_count == len(desired) and self._prove(pending, located, budget).everywhere",
      "user.password_count == len(desired) or self._prove(pending, located, budget).everywhere",
      "call it set when only the count matches"),
    m("set-already-set-count-only", "setSecret", ROTATOR, "Rotator.set_pending",
      "user.password_count == len(desired) and self._prove(pending, located, budget).everywhere",
      "user.password_count == len(desired)",
      "call it set when the count matches, without proving pending"),
    m("set-only-pending", "setSecret", ROTATOR, "Rotator.set_pending",
      "desired = _distinct(current.password, pending.password)",
      "desired = [pending.password]", "replace the set with pending alone"),
    m("set-no-claim", "setSecret", ROTATOR, "Rotator.set_pending",
      "self._claim(located, meta)", "pass", "set without claiming the user"),
    m("distinct-always-two", "setSecret", ROTATOR, "_distinct",
      "if current.get_secret_value() == pending.get_secret_value():", "if False:",
      "send the same password twice"),
    # -- testSecret -----------------------------------------------------------------------------
    m("test-no-wait", "testSecret", ROTATOR, "Rotator.prove_pending",
      "wait_until_active(self._users, current.username, budget, self._backoff, "
      "known=located.user)", "pass", "prove before the user turned active"),
    m("test-no-lag-wait", "testSecret", ROTATOR, "Rotator.prove_pending",
      "lambda found: found.everywhere,", "lambda found: True,",
      "give a lagging node no second chance"),
    m("test-no-pending-proof", "testSecret", ROTATOR, "Rotator.prove_pending",
      "if not proof.everywhere:\nraise _not_everywhere(proof, pending,",
      "if False:\n    raise _not_everywhere(proof, pending,",
      "pass without proving the new password everywhere"),
    m("test-no-current-proof", "testSecret", ROTATOR, "Rotator.prove_pending",
      "proof = self._prove(current, located, budget)\nif not proof.everywhere:",
      "proof = self._prove(current, located, budget)\nif False:",
      "pass when the current password stopped working"),
    # -- finishSecret ---------------------------------------------------------------------------
    m("finish-no-proof", "finishSecret", ROTATOR, "Rotator.promote_pending",
      "self._require_everywhere(pending, located, budget, AWSPENDING)", "pass",
      "promote a password some node refuses"),
    m("finish-drop-before-promote", "finishSecret", ROTATOR, "Rotator.promote_pending",
      "self._secrets.promote(request.secret_id, token=request.token, from_version=current_version)",
      "set_when_idle(self._users, pending.username, [pending.password], budget, self._backoff)\n"
      "self._secrets.promote(request.secret_id, token=request.token, from_version=current_version)",
      "drop the old password before AWSCURRENT moves"),
    m("finish-no-promote", "finishSecret", ROTATOR, "Rotator.promote_pending",
      "self._secrets.promote(request.secret_id, token=request.token, from_version=current_version)",
      "pass", "never move AWSCURRENT"),
    m("finish-no-current-check", "finishSecret", ROTATOR, "Rotator.promote_pending",
      "if current_version is None:", "if False:",
      "promote from a secret without AWSCURRENT",
      equivalent="`_pair` reads the value at AWSCURRENT next and fails the same way (before any "
      "write) on a secret without that label"),
    m("finish-retry-no-drop", "finishSecret", ROTATOR, "Rotator.complete_finish",
      "return self._drop_old(",
      "return self._result(Outcome.ALREADY_CURRENT, budget, located) or self._drop_old(",
      "a retried finishSecret leaves the old password"),
    m("finish-retry-count-off", "finishSecret", ROTATOR, "Rotator.complete_finish",
      "if located.user.password_count <= 1:", "if located.user.password_count <= 2:",
      "a retried finishSecret thinks two passwords are one"),
    m("finish-drop-ignores-keep", "finishSecret", ROTATOR, "Rotator._drop_old",
      'if self._settings.old_password_policy == "keep":', "if False:",
      "drop the old password under OLD_PASSWORD_POLICY=keep"),
    m("finish-drop-unproven", "finishSecret", ROTATOR, "Rotator._drop_old",
      "self._require_everywhere(new, located, budget, AWSPENDING)", "pass",
      "drop to a password not proven on every node"),
    m("finish-drop-nothing", "finishSecret", ROTATOR, "Rotator._drop_old",
      "set_when_idle(self._users, new.username, [new.password], budget, self._backoff)", "pass",
      "never drop the old password"),
    # -- proving on every node ------------------------------------------------------------------
    m("proof-everywhere-ignores-unreachable", "proof", PROOF, "Proof.everywhere",
      "not self.unreachable and ", "", "an unreachable node counts as proven"),
    m("proof-everywhere-without-nodes", "proof", PROOF, "Proof.everywhere",
      " and bool(self.accepted)", "", "zero nodes counts as proven"),
    m("proof-refusal-accepted", "proof", PROOF, "prove",
      "elif future.result():", "elif True:", "a node's refusal counts as acceptance"),
    m("proof-bug-swallowed", "proof", PROOF, "prove",
      "elif error is not None:\nraise error", "elif error is not None:\n    pass",
      "a verifier bug reads as a refusal"),
    m("proof-no-deadline", "proof", PROOF, "prove",
      "if pending and clock() >= deadline:", "if False:", "wait forever for a silent node"),
    m("proof-deadline-ignored-by-step", "proof", ROTATOR, "Rotator._prove",
      "seconds=max(0.0, budget.remaining()) + self._verifier.timeout_seconds",
      "seconds=self._verifier.timeout_seconds",
      "a proof may not use the step's remaining time",
      equivalent="up to MAX_CONCURRENT_NODES (16) nodes every connection starts at once with "
      "the verifier's own timeout; only a 17th node, queued, needs the step's remaining time, "
      "and no test builds one"),
    m("proof-unreachable-as-network", "proof", ROTATOR, "_not_everywhere",
      "if not proof.rejected and proof.unreachable:", "if proof.unreachable:",
      "a refusal next to an unreachable node reported as a network problem"),
    m("proof-not-required", "proof", ROTATOR, "Rotator._require_everywhere",
      "if not proof.everywhere:", "if False:", "require nothing of a proof"),
    # -- waiting --------------------------------------------------------------------------------
    m("wait-ignores-status", "waiting", WAITING, "wait_until_active",
      "if user.active:", "if True:", "never wait"),
    m("wait-ignores-deleting", "waiting", WAITING, "wait_until_active",
      'if user.status == "deleting":', "if False:", "wait for a user being deleted"),
    m("wait-no-deadline", "waiting", WAITING, "wait_until_active",
      "if budget.remaining() <= 0:", "if False:", "wait past the deadline"),
    m("wait-no-pause", "waiting", WAITING, "wait_until_active",
      "budget.pause(backoff.interval(budget.clock() - start))", "pass",
      "poll without sleeping"),
    m("wait-known-reused", "waiting", WAITING, "wait_until_active",
      "known = None", "pass", "poll the first description forever"),
    m("pause-past-deadline", "waiting", WAITING, "Budget.pause",
      "seconds = min(seconds, self.remaining())", "pass", "sleep past the deadline"),
    m("pause-not-counted", "waiting", WAITING, "Budget.pause",
      "self.waited += self.clock() - start", "self.waited = self.clock() - start",
      "count only the last pause of a step"),
    m("busy-no-deadline", "waiting", WAITING, "set_when_idle",
      "if budget.remaining() <= 0:", "if False:", "retry a busy user past the deadline"),
    m("busy-no-pause", "waiting", WAITING, "set_when_idle",
      "budget.pause(backoff.interval(budget.clock() - start))", "pass",
      "retry a busy user at once"),
    m("busy-no-wait-active", "waiting", WAITING, "set_when_idle",
      "wait_until_active(users, user_name, budget, backoff)", "pass",
      "retry a busy user without waiting for it to turn active",
      equivalent="the retry still pauses with backoff and MemoryDB answers InvalidUserStateFault "
      "until the user is active: waiting for `active` first only trades UpdateUser calls for "
      "DescribeUsers calls"),
    m("poll-once", "waiting", WAITING, "poll",
      "if done(result) or budget.remaining() <= 0:", "if True:", "poll once"),
    m("poll-no-deadline", "waiting", WAITING, "poll",
      "if done(result) or budget.remaining() <= 0:", "if done(result):",
      "poll past the deadline"),
    m("poll-no-pause", "waiting", WAITING, "poll",
      "budget.pause(backoff.interval(budget.clock() - start))", "pass",
      "poll without sleeping"),
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
    m("verifier-plaintext", "verifier", VERIFIER, "RedisVerifier.authenticates",
      "if not endpoint.tls:", "if False:", "send a password to a plaintext endpoint"),
    m("tls-no-hostname-check", "verifier", VERIFIER, "RedisVerifier.tls_context",
      "context.check_hostname = True", "context.check_hostname = False",
      "TLS without host-name verification"),
    m("tls-no-cert-check", "verifier", VERIFIER, "RedisVerifier.tls_context",
      "context.check_hostname = True\ncontext.verify_mode = ssl.CERT_REQUIRED",
      "context.check_hostname = False\ncontext.verify_mode = ssl.CERT_NONE",
      "TLS without certificate verification"),
    m("tls-no-ca-bundle", "verifier", VERIFIER, "RedisVerifier.tls_context",
      "context = ssl.create_default_context(cafile=cafile)",
      "context = ssl.create_default_context()", "ignore CA_BUNDLE_PATH"),
    m("tls-bundle-plus-system", "verifier", VERIFIER, "RedisVerifier.tls_context",
      "context = ssl.create_default_context(cafile=cafile)",
      "context = ssl.create_default_context()\nif cafile is not None:\n"
      "    context.load_verify_locations(cafile=cafile)",
      "trust the system store as well as CA_BUNDLE_PATH"),
    m("tls-old-protocols", "verifier", VERIFIER, "RedisVerifier.tls_context",
      "context.minimum_version = ssl.TLSVersion.TLSv1_2", "pass",
      "accept TLS below 1.2",
      equivalent="Python's default context already refuses TLS below 1.2 on OpenSSL 3, and "
      "redis-server cannot be made to offer less here"),
    m("tls-wrap-no-server-name", "verifier", VERIFIER, "_shared_context_connection",
      "server_hostname=self.host", "server_hostname=None",
      "wrap the socket without the host name to check"),
    m("verifier-auth-error-true", "verifier", VERIFIER, "RedisVerifier.authenticates",
      "except redis.AuthenticationError:\nreturn False",
      "except redis.AuthenticationError:\n    return True", "a refused AUTH counts as proof"),
    m("verifier-unreachable-false", "verifier", VERIFIER, "RedisVerifier.authenticates",
      "reason = _reason(exc)", "return False",
      "an unreachable node reads as a refused password"),
    m("verifier-reason-name", "verifier", VERIFIER, "_reason",
      "and seen.verify_code in _NAME_MISMATCH", "and False",
      "a certificate for another name reported as any verification failure"),
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
      "remaining_millis / 1000 - self.reserve_seconds", "remaining_millis / 1000",
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
    parser.add_argument(
        "--integration",
        nargs="+",
        default=list(SUITES["integration"]),
        metavar="PATH",
        help="test files or folders that make the integration suite (default: tests/integration)",
    )
    args = parser.parse_args(argv)
    SUITES["integration"] = tuple(args.integration)
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
