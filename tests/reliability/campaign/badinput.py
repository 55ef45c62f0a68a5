"""Bad and hostile input: every case must be refused with a clear error, nothing written, and no
secret material in the error or in anything the function printed or logged.

Each case gets its own user and secret. Steps the case needs done first run through the real
handler; then the call lists are cleared and the refused invocation alone is judged: the error
names the problem, the function logged exactly one "step failed" line whose reason names it too,
nothing was written, no secret showed anywhere, and (unless the case takes the user's password
away) the user's password still authenticates on the cluster.

Some hostile cases are not refusals: a race or a late retry the function must come through
without breaking anything (kind "kept safe"). Those are judged the other way round: the call
succeeds, it writes only what the case allows, AWSCURRENT's password still authenticates, and
the case's own check holds (the pending password of a following rotation is still set, say).

This table is the one home of these cases: tests/reliability/test_bad_input.py runs each as its
own pytest case, and the reliability report counts them.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sandbox.lambda_context import LocalLambdaContext
from sandbox.redis_server import free_port
from sandbox.sandbox import ACCOUNT, LAMBDA_ARN, REGION, Sandbox, new_password
from tests.reliability.campaign.campaign import CaseResult
from tests.reliability.campaign.leaks import LeakScanner

WRITES = (
    "PutSecretValue",
    "UpdateSecretVersionStage",
    "UpdateUser",
    "TagResource",
    "UntagResource",
    "CreateUser",
    "DeleteUser",
    "CreateSchedule",
    "DeleteSchedule",
)
LOG_INJECTION = "FORGED-LOG-LINE"


@dataclass
class Ctx:
    sandbox: Sandbox
    user: str
    password: str
    arn: str
    token: str
    event: dict[str, Any] = field(default_factory=dict)
    extra_secrets: set[str] = field(default_factory=set)
    others: Counter[str] = field(default_factory=Counter)
    """AWS calls another party made during the judged invocation (a racing secret's steps run
    from a hook): not the judged invocation's writes."""
    records: list[logging.LogRecord] = field(default_factory=list)
    """The judged invocation's log records, for a case's own check."""
    notes: dict[str, str] = field(default_factory=dict)
    """What a case's prepare leaves for its check (another secret's ARN, a later token)."""

    def as_other_party(self, action: Callable[[], object]) -> None:
        """Run `action` as someone else would, in the middle of the judged invocation: the AWS
        calls it makes are set apart from the judged invocation's."""
        before = Counter(self.sandbox.calls())
        action()
        self.others += Counter(self.sandbox.calls()) - before


Prepare = Callable[[Ctx], None]
Check = Callable[[Ctx], list[str]]


@dataclass(frozen=True)
class BadCase:
    name: str
    match: str
    """A regular expression the error message must match: it names the problem."""
    document: Callable[[Ctx], dict[str, Any]] | None = None
    secret_string: str | None = None
    event: dict[str, Any] = field(default_factory=dict)
    step: str = "createSecret"
    settings: dict[str, str | None] = field(default_factory=dict)
    before: tuple[str, ...] = ()
    """Steps that run (and must succeed) before the hostile change."""
    prepare: Prepare | None = None
    user_kwargs: dict[str, Any] = field(default_factory=dict)
    absent_from_output: tuple[str, ...] = ()
    password_survives: bool = True
    """False where the case itself leaves the user without a working password (no user, or a
    user that authenticates otherwise)."""
    kind: Literal["refused", "kept safe"] = "refused"
    holds: Check | None = None
    """The case's own check after the judged invocation: the problems it finds."""
    writes_allowed: tuple[str, ...] = ()
    """Writes the judged invocation may make: a claim announced and withdrawn, or, for a kept
    safe case, the step's own work."""
    undo: Prepare | None = None
    """Puts back what `prepare` changed outside the case's own user and secret (hooks, the
    shared cluster), whatever the outcome."""


# -- prepare helpers ------------------------------------------------------------------------------


def _disable(ctx: Ctx) -> None:
    ctx.sandbox.disable_rotation(ctx.arn)


def _unstage(ctx: Ctx) -> None:
    ctx.sandbox.delete_version(ctx.arn, ctx.token)


def _not_pending(ctx: Ctx) -> None:
    ctx.sandbox.set_version_stages(ctx.arn, ctx.token, ["AWSPREVIOUS"])


def _delete_user(ctx: Ctx) -> None:
    ctx.sandbox.memorydb_client.delete_user(UserName=ctx.user)


def _no_such_secret(ctx: Ctx) -> None:
    ctx.event["SecretId"] = (
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:no-such-secret-AbCdEf"
    )


def _pending_for_other_user(ctx: Ctx) -> None:
    other = f"{ctx.user}-other"
    password = ctx.sandbox.create_user(other)
    ctx.sandbox.sm_client.put_secret_value(
        SecretId=ctx.arn,
        ClientRequestToken=ctx.token,
        SecretString=json.dumps(ctx.sandbox.secret_document(other, password)),
        VersionStages=["AWSPENDING"],
    )


def _pending_with_refused_password(ctx: Ctx) -> None:
    bad = "Has,a-comma-and/slash-" + new_password(16)
    ctx.extra_secrets.add(bad)
    ctx.sandbox.sm_client.put_secret_value(
        SecretId=ctx.arn,
        ClientRequestToken=ctx.token,
        SecretString=json.dumps(
            ctx.sandbox.secret_document(ctx.user, ctx.password) | {"password": bad}
        ),
        VersionStages=["AWSPENDING"],
    )


def _token_of_another_secret(ctx: Ctx) -> None:
    other_user = f"{ctx.user}-b"
    password = ctx.sandbox.create_user(other_user)
    other = ctx.sandbox.create_secret(other_user, password)
    ctx.event["SecretId"] = other  # the token is staged on ctx.arn only


def _edit_current_password(ctx: Ctx) -> None:
    edited = new_password()
    ctx.extra_secrets.add(edited)
    ctx.sandbox.sm_client.put_secret_value(
        SecretId=ctx.arn,
        SecretString=json.dumps(ctx.sandbox.secret_document(ctx.user, edited)),
        VersionStages=["AWSCURRENT"],
    )


def _edit_current_user(ctx: Ctx) -> None:
    other = f"{ctx.user}-c"
    password = ctx.sandbox.create_user(other)
    ctx.extra_secrets.add(password)
    ctx.sandbox.sm_client.put_secret_value(
        SecretId=ctx.arn,
        SecretString=json.dumps(ctx.sandbox.secret_document(other, password)),
        VersionStages=["AWSCURRENT"],
    )


def _replace_current(ctx: Ctx, value: str | bytes) -> None:
    version = ctx.sandbox.view(ctx.arn).version_with("AWSCURRENT")
    assert version is not None
    ctx.sandbox.put_version(ctx.arn, version, value, ["AWSCURRENT"])


def _binary_secret(ctx: Ctx) -> None:
    _replace_current(ctx, b"\x00\xff\x00\xff\x00\xff")


def _huge_secret(ctx: Ctx) -> None:
    document = ctx.sandbox.secret_document(ctx.user, ctx.password) | {"blob": "A" * 70_000}
    _replace_current(ctx, json.dumps(document))


def _closed_port(ctx: Ctx) -> dict[str, Any]:
    return {"port": free_port()}


def _arn(account: str, user: str) -> str:
    return f"arn:aws:memorydb:{REGION}:{account}:user/{user}"


CASES: tuple[BadCase, ...] = (
    # -- the event ----------------------------------------------------------------------------
    BadCase("unknown step", r"'Step' is invalid", event={"Step": "rotateSecret"}),
    BadCase(
        "missing token", r"'ClientRequestToken' is missing", event={"ClientRequestToken": None}
    ),
    BadCase(
        "token too short", r"'ClientRequestToken' is invalid", event={"ClientRequestToken": "x"}
    ),
    BadCase(
        "RotationToken not a string", r"'RotationToken' is invalid", event={"RotationToken": 7}
    ),
    # drop-after's scheduled event: refused as strictly as a rotation event
    BadCase(
        "drop event carrying a RotationToken",
        r"not a dropOldPassword event: 'RotationToken' is unexpected",
        event={"Step": None, "Action": "dropOldPassword"},
    ),
    BadCase(
        "drop event naming the secret by name",
        r"not a dropOldPassword event: 'SecretId' is invalid",
        event={"Step": None, "RotationToken": None, "Action": "dropOldPassword", "SecretId": "x"},
    ),
    BadCase(
        "drop event with another action and a password list",
        r"not a dropOldPassword event: 'Action' is invalid, 'Passwords' is unexpected",
        event={
            "Step": None,
            "RotationToken": None,
            "Action": "dropAllPasswords",
            "Passwords": ["Hostile-password-0123456789"],
        },
    ),
    BadCase("no such secret", r"there is no secret", prepare=_no_such_secret),
    BadCase("token not staged", r"is not a version of secret", prepare=_unstage),
    BadCase("token not pending", r"is not AWSPENDING", prepare=_not_pending),
    BadCase(
        "token reused across two secrets",
        r"is not a version of secret",
        prepare=_token_of_another_secret,
    ),
    BadCase("rotation disabled", r"rotation is not enabled", prepare=_disable),
    # -- the secret value ---------------------------------------------------------------------
    BadCase("secret not JSON", r"not JSON", secret_string="username=app;password=hunter2hunter2"),
    BadCase("secret is a JSON list", r"not a JSON object", secret_string='["user", "pw"]'),
    BadCase("huge secret (70 kB)", r"larger than Secrets Manager allows", prepare=_huge_secret),
    BadCase("binary secret", r"holds binary data", prepare=_binary_secret),
    BadCase("missing username", r"'username' is missing", document=lambda c: {"username": None}),
    BadCase("missing password", r"'password' is missing", document=lambda c: {"password": None}),
    BadCase(
        "unicode username",
        r"'username' is invalid",
        document=lambda c: {"username": "üser-名前", "user_arn": None},
    ),
    BadCase(
        "control characters in username",
        r"'username' is invalid",
        document=lambda c: {"username": f"app\r\n{LOG_INJECTION}\x00", "user_arn": None},
        absent_from_output=(LOG_INJECTION,),
    ),
    BadCase("port not a number", r"'port' is invalid", document=lambda c: {"port": "6379; rm -rf"}),
    BadCase("ssl not a boolean", r"'ssl' is invalid", document=lambda c: {"ssl": "yes"}),
    BadCase(
        "host not an endpoint of the user's clusters",
        r"'host' and 'port' in the secret are not an endpoint",
        document=lambda c: {"host": "attacker.example.com"},
        absent_from_output=("attacker.example.com",),
    ),
    BadCase(
        "port not the cluster's",
        r"'host' and 'port' in the secret are not an endpoint",
        document=_closed_port,
    ),
    BadCase(
        "user_arn names another user",
        r"names a different user",
        document=lambda c: {"user_arn": _arn(ACCOUNT, "someone-else")},
    ),
    BadCase(
        "user_arn from another account",
        r"is not the ARN of user",
        document=lambda c: {"user_arn": _arn("210987654321", c.user)},
    ),
    BadCase(
        "current password does not authenticate",
        r"AWSCURRENT password does not authenticate",
        document=lambda c: {"password": new_password()},
    ),
    # -- the user -----------------------------------------------------------------------------
    BadCase(
        "default user",
        r"'default' user",
        document=lambda c: {"username": "default", "user_arn": None},
    ),
    BadCase(
        "iam user",
        r"authenticates with 'iam'",
        user_kwargs={"auth_type": "iam"},
        password_survives=False,
    ),
    BadCase(
        "no-password user",
        r"authenticates with 'no-password'",
        user_kwargs={"auth_type": "no-password"},
        password_survives=False,
    ),
    BadCase(
        "user does not exist",
        r"no MemoryDB user 'bad-\d\d'",
        prepare=_delete_user,
        password_survives=False,
    ),
    BadCase(
        "user outside the allow-list",
        r"not in ROTATION_ALLOWED_USERS",
        settings={"ROTATION_ALLOWED_USERS": "payments,reporting"},
    ),
    BadCase("bad settings", r"PASSWORD_LENGTH", settings={"PASSWORD_LENGTH": "8"}),
    # -- hostile changes between steps --------------------------------------------------------
    BadCase(
        "AWSPENDING names another user",
        r"different user or endpoint",
        step="setSecret",
        prepare=_pending_for_other_user,
    ),
    BadCase(
        "AWSPENDING holds a password MemoryDB refuses",
        r"password has a character MemoryDB refuses",
        step="setSecret",
        prepare=_pending_with_refused_password,
    ),
    BadCase(
        "AWSCURRENT password edited by hand between steps",
        r"AWSCURRENT password does not authenticate",
        step="setSecret",
        before=("createSecret",),
        prepare=_edit_current_password,
    ),
    BadCase(
        "AWSCURRENT user edited by hand between steps",
        r"different user or endpoint",
        step="setSecret",
        before=("createSecret",),
        prepare=_edit_current_user,
    ),
    BadCase(
        "user deleted mid-rotation",
        r"no MemoryDB user|is being deleted",
        step="testSecret",
        before=("createSecret", "setSecret"),
        prepare=_delete_user,
        password_survives=False,
    ),
)


def run_case(sandbox: Sandbox, case: BadCase, index: int) -> CaseResult:
    from rotation.handler import lambda_handler

    user = f"bad-{index:02d}"
    password = sandbox.create_user(user, **case.user_kwargs)
    ctx = Ctx(sandbox, user, password, "", str(uuid.uuid4()))
    document = sandbox.secret_document(user, password)
    if case.document is not None:
        document.update(case.document(ctx))
    document = {k: v for k, v in document.items() if v is not None}
    ctx.arn = sandbox.create_secret(
        user, password, name=f"bad/{index:02d}", document=document, secret_string=case.secret_string
    )
    rotation_token = f"{uuid.uuid4()}-{uuid.uuid4().hex[:8]}"
    _configure(sandbox, case.settings)
    sandbox.stage_pending(ctx.arn, ctx.token)
    ctx.event = {
        "Step": case.step,
        "SecretId": ctx.arn,
        "ClientRequestToken": ctx.token,
        "RotationToken": rotation_token,
    }
    scanner = LeakScanner()
    problems: list[str] = []
    try:
        with scanner.capturing():
            for step in case.before:
                lambda_handler(ctx.event | {"Step": step}, LocalLambdaContext())
                sandbox.settle()
            if case.prepare is not None:
                case.prepare(ctx)
            event = {k: v for k, v in (ctx.event | case.event).items() if v is not None}
            sandbox.clear_calls()
            scanner.records.clear()
            error: Exception | None = None
            try:
                lambda_handler(event, LocalLambdaContext())
            except Exception as exc:  # noqa: BLE001 - judged below
                error = exc
                scanner.exception(exc)
            ctx.records = list(scanner.records)
            judged = Counter(c for c in sandbox.calls() if c in WRITES) - ctx.others
            if case.kind == "refused":
                problems += _judge_refusal(case, error, ctx.records)
            else:
                problems += _judge_kept_safe(error, ctx.records)
            writes = [w for w in judged.elements() if w not in case.writes_allowed]
            if writes:
                problems.append(f"it wrote: {', '.join(writes)}")
            if case.holds is not None:
                problems += case.holds(ctx)
        if case.kind == "kept safe":
            problems += _current_authenticates(sandbox, ctx)
        elif case.password_survives and not sandbox.authenticates(user, password):
            problems.append("the user's password stopped working")
        secrets = set(sandbox.passwords_seen) | ctx.extra_secrets | {rotation_token, password}
        if case.kind == "kept safe":  # the function made passwords of its own there
            secrets |= _labelled_passwords(sandbox, ctx.arn)
        leaks = scanner.scan(secrets)
        problems += leaks
        output = "\n".join(scanner.texts["stdout/stderr"] + scanner.texts["exceptions"])
        problems += [
            f"'{text}' reached the output" for text in case.absent_from_output if text in output
        ]
        detail = "; ".join(problems) or (
            f"{type(error).__name__}: {error}" if error is not None else "handled safely"
        )
    finally:
        if case.undo is not None:
            case.undo(ctx)
        if case.settings:
            sandbox.configure_function(**dict.fromkeys(case.settings))
    family = "bad-input" if case.kind == "refused" else "hostile-safe"
    return CaseResult(family, case.name, not problems, detail, leaks=len(leaks), writes=len(writes))


def _configure(sandbox: Sandbox, settings: dict[str, str | None]) -> None:
    """The case's settings; drop-after as the template sets it up (its schedule group too)."""
    if settings.get("OLD_PASSWORD_POLICY") == "drop-after":
        its_own = ("OLD_PASSWORD_POLICY", "OLD_PASSWORD_GRACE_SECONDS", "SCHEDULE_GROUP_NAME")
        rest = {k: v for k, v in settings.items() if k not in (*its_own, "SCHEDULER_ROLE_ARN")}
        sandbox.drop_after(float(settings.get("OLD_PASSWORD_GRACE_SECONDS") or 60), **rest)
    elif settings:
        sandbox.configure_function(**settings)


def _judge_refusal(
    case: BadCase, error: Exception | None, records: list[logging.LogRecord]
) -> list[str]:
    problems = []
    if error is None:
        problems.append("the function accepted it")
    elif not re.search(case.match, str(error)):
        problems.append(f"the error does not name the problem: {type(error).__name__}")
    failed = [r for r in records if r.getMessage() == "step failed"]
    if len(failed) != 1:
        problems.append(f"{len(failed)} 'step failed' log lines, not 1")
    elif not re.search(case.match, str(getattr(failed[0], "reason", ""))):
        problems.append("the 'step failed' log line's reason does not name the problem")
    return problems


def _judge_kept_safe(error: Exception | None, records: list[logging.LogRecord]) -> list[str]:
    problems = []
    if error is not None:
        problems.append(f"the invocation failed: {type(error).__name__}")
    succeeded = [r for r in records if r.getMessage() == "step succeeded"]
    if len(succeeded) != 1:
        problems.append(f"{len(succeeded)} 'step succeeded' log lines, not 1")
    return problems


def _current_authenticates(sandbox: Sandbox, ctx: Ctx) -> list[str]:
    sandbox.settle()
    current = sandbox.view(ctx.arn).password("AWSCURRENT")
    if current is None or not sandbox.authenticates(ctx.user, current):
        return ["AWSCURRENT's password does not authenticate"]
    return []


def _labelled_passwords(sandbox: Sandbox, arn: str) -> set[str]:
    """Every password a labelled version of the secret holds (the function made some of them)."""
    view = sandbox.view(arn)
    found = {view.password(stage) for stage in ("AWSCURRENT", "AWSPENDING", "AWSPREVIOUS")}
    return {p for p in found if p}


def outcome_of(ctx: Ctx) -> dict[str, Any]:
    """The judged invocation's "step succeeded" line: outcome, old_password, kept_because."""
    for record in ctx.records:
        if record.getMessage() == "step succeeded":
            keys = ("outcome", "old_password", "kept_because", "reason")
            return {k: getattr(record, k, None) for k in keys}
    return {}


def run_bad_inputs(sandbox: Sandbox) -> list[CaseResult]:
    return [run_case(sandbox, case, i) for i, case in enumerate(CASES)]


__all__ = ["CASES", "LAMBDA_ARN", "BadCase", "Ctx", "outcome_of", "run_bad_inputs", "run_case"]


# The hostile-input families live in their own modules; they run with the same judge.
from tests.reliability.campaign.hostile import CASES as _HOSTILE  # noqa: E402
from tests.reliability.campaign.races import CASES as _RACES  # noqa: E402

CASES = (*CASES, *_HOSTILE, *_RACES)
