"""More hostile and careless input (issue: every input refused before the first write).

Each family a hostile or careless writer can reach: the event, the secret's document, the user's
state in MemoryDB, the function's settings, and the confused-deputy cases where the secret tries to
steer the function somewhere MemoryDB does not put the user. The runner is `badinput.run_case`:
each case must be refused with an error that names the problem, write nothing, and leave no
password, RotationToken or raw field value in any output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.reliability.campaign.badinput import BadCase, Ctx

ROOT = Path(__file__).resolve().parents[3]
RAW_HOST = "evil-host-value.example"
URL_PASSWORD = "Url-embedded-password-0123456789"


def _current(ctx: Ctx, **changes: Any) -> None:
    """Write a new AWSCURRENT: the document as it stands, with `changes` (None removes a key)."""
    document = ctx.sandbox.secret_document(ctx.user, ctx.password) | changes
    ctx.sandbox.sm_client.put_secret_value(
        SecretId=ctx.arn,
        SecretString=json.dumps({k: v for k, v in document.items() if v is not None}),
        VersionStages=["AWSCURRENT"],
    )


def _current_text(ctx: Ctx, text: str) -> None:
    ctx.sandbox.sm_client.put_secret_value(
        SecretId=ctx.arn, SecretString=text, VersionStages=["AWSCURRENT"]
    )


def _add_key_to_current(ctx: Ctx) -> None:
    _current(ctx, added_after_create="team-b")


def _pending_host_elsewhere(ctx: Ctx) -> None:
    document = ctx.sandbox.secret_document(ctx.user, ctx.password) | {"host": RAW_HOST}
    document["password"] = "Planted-pending-password-012345"
    ctx.extra_secrets.add(document["password"])
    ctx.sandbox.sm_client.put_secret_value(
        SecretId=ctx.arn,
        ClientRequestToken=ctx.token,
        SecretString=json.dumps(document),
        VersionStages=["AWSPENDING"],
    )


def _pending_also_previous(ctx: Ctx) -> None:
    ctx.sandbox.set_version_stages(ctx.arn, ctx.token, ["AWSPENDING", "AWSPREVIOUS"])


def _owned_by_another_secret(ctx: Ctx) -> None:
    other = ctx.sandbox.create_secret(ctx.user, ctx.password, name=f"{ctx.arn[-12:]}-other")
    user_arn = ctx.sandbox.user_arn(ctx.user)
    ctx.sandbox.memorydb_client.tag_resource(
        ResourceArn=user_arn, Tags=[{"Key": "memorydb-rotation:secret", "Value": other}]
    )


def _user_leaves_every_acl(ctx: Ctx) -> None:
    ctx.sandbox.memorydb_client.update_acl(ACLName="sandbox-acl", UserNamesToRemove=[ctx.user])


def _user_disabled(ctx: Ctx) -> None:
    ctx.sandbox.memorydb_client.update_user(UserName=ctx.user, AccessString="off ~* +@all")
    ctx.sandbox.settle()


def _host_of_a_cluster_without_the_user(ctx: Ctx) -> dict[str, Any]:
    name = f"x{ctx.user[-2:]}"
    ctx.sandbox.create_acl(f"{name}-acl")
    host, port = ctx.sandbox.create_cluster(name, acl=f"{name}-acl").endpoint
    return {"host": host, "port": port}


def _document(**changes: Any) -> Any:
    return lambda _ctx: changes


def _big_text(ctx: Ctx) -> None:
    # Under the limit as written; the new password (128 characters) would take it over.
    document = ctx.sandbox.secret_document(ctx.user, ctx.password)
    text = json.dumps(document)
    padding = 65_536 - len(text) - len(', "padding": ""') - 40
    _current_text(ctx, text[:-1] + ', "padding": "' + "p" * padding + '"}')


CASES: tuple[BadCase, ...] = (
    # -- the event ----------------------------------------------------------------------------
    BadCase("SecretId empty", r"'SecretId' is invalid", event={"SecretId": ""}),
    BadCase("SecretId 3,000 characters", r"'SecretId' is invalid", event={"SecretId": "a" * 3000}),
    BadCase("Step in lower case", r"'Step' is invalid", event={"Step": "createsecret"}),
    BadCase("Step missing", r"'Step' is missing", event={"Step": None}),
    BadCase("Step not a string", r"'Step' is invalid", event={"Step": ["createSecret"]}),
    BadCase(
        "token 65 characters",
        r"'ClientRequestToken' is invalid",
        event={"ClientRequestToken": "t" * 65},
    ),
    BadCase(
        "token not a string",
        r"'ClientRequestToken' is invalid",
        event={"ClientRequestToken": 12345678901234567890123456789012345},
    ),
    BadCase("RotationToken a list", r"'RotationToken' is invalid", event={"RotationToken": ["x"]}),
    # -- the secret's document ----------------------------------------------------------------
    BadCase(
        "host is a URL with a password",
        r"'host' is invalid",
        document=_document(host=f"rediss://app:{URL_PASSWORD}@cluster.example"),
        absent_from_output=(URL_PASSWORD,),
    ),
    BadCase(
        "host with an embedded NUL",
        r"'host' is invalid",
        document=_document(host="localhost\x00.evil.example"),
        absent_from_output=("evil.example",),
    ),
    BadCase("host with a space", r"'host' is invalid", document=_document(host="local host")),
    BadCase("host 300 characters", r"'host' is invalid", document=_document(host="a" * 300)),
    BadCase(
        "host label over 63 characters",
        r"'host' is invalid",
        document=_document(host="a" * 64 + ".example"),
    ),
    BadCase("host not a string", r"'host' is invalid", document=_document(host=["localhost"])),
    BadCase(
        "host the link-local metadata address",
        r"are not an endpoint",
        document=_document(host="169.254.169.254"),
        absent_from_output=("169.254.169.254",),
    ),
    BadCase(
        "host a private address",
        r"are not an endpoint",
        document=_document(host="10.0.0.1"),
        absent_from_output=("10.0.0.1",),
    ),
    BadCase(
        "host a name outside MemoryDB",
        r"are not an endpoint",
        document=_document(host=RAW_HOST),
        absent_from_output=(RAW_HOST,),
    ),
    BadCase(
        "host a cluster that does not hold the user",
        r"are not an endpoint",
        document=_host_of_a_cluster_without_the_user,
    ),
    BadCase("ssl false", r"'ssl' in the secret disagrees", document=_document(ssl=False)),
    BadCase("port zero", r"'port' is invalid", document=_document(port=0)),
    BadCase("port 70000", r"'port' is invalid", document=_document(port=70000)),
    BadCase("port a float", r"'port' is invalid", document=_document(port=6379.0)),
    BadCase("port a boolean", r"'port' is invalid", document=_document(port=True)),
    BadCase(
        "username 41 characters",
        r"'username' is invalid",
        document=_document(username="u" * 41, user_arn=None),
    ),
    BadCase(
        "username starts with a digit",
        r"'username' is invalid",
        document=_document(username="1user", user_arn=None),
    ),
    BadCase("password empty", r"'password' is invalid", document=_document(password="")),
    BadCase("password a number", r"'password' is invalid", document=_document(password=12345)),
    BadCase("user_arn not an ARN", r"'user_arn' is not", document=_document(user_arn="app")),
    BadCase(
        "user_arn in ElastiCache's form",
        r"'user_arn' is not a MemoryDB user ARN",
        document=lambda c: {
            "user_arn": f"arn:aws:elasticache:us-east-1:123456789012:user:{c.user}"
        },
    ),
    BadCase(
        "a repeated key",
        r"repeats a key",
        prepare=lambda c: _current_text(
            c, json.dumps(c.sandbox.secret_document(c.user, c.password))[:-1] + ', "port": 1}'
        ),
    ),
    BadCase(
        "NaN in an extra key",
        r"not JSON",
        prepare=lambda c: _current_text(
            c, json.dumps(c.sandbox.secret_document(c.user, c.password))[:-1] + ', "x": NaN}'
        ),
    ),
    BadCase(
        "3,000-deep nesting in an extra key",
        r"nested too deeply",
        prepare=lambda c: _current_text(
            c,
            json.dumps(c.sandbox.secret_document(c.user, c.password))[:-1]
            + ', "x": '
            + "[" * 3000
            + "]" * 3000
            + "}",
        ),
    ),
    BadCase("document a JSON string", r"not a JSON object", secret_string='"username"'),
    BadCase("document empty", r"'username' is missing", secret_string="{}"),
    BadCase(
        "new version over 65,536 bytes",
        r"over Secrets Manager's 65536-byte limit",
        settings={"PASSWORD_LENGTH": "128"},
        prepare=_big_text,
    ),
    # -- passwords MemoryDB would refuse, caught before anything is written ---------------------
    BadCase(
        "AWSCURRENT password with @",
        r"AWSCURRENT password breaks MemoryDB's rules",
        document=_document(password="Has-an-at-sign@0123456789abcdef"),
    ),
    BadCase(
        "AWSCURRENT password of 10 characters",
        r"AWSCURRENT password breaks MemoryDB's rules",
        document=_document(password="Short-pw-1"),
    ),
    # -- the user's state ---------------------------------------------------------------------
    # The case itself leaves the password working nowhere: the user is off, or on no node.
    BadCase("user disabled (off)", r"is disabled", prepare=_user_disabled, password_survives=False),
    BadCase(
        "user in no ACL",
        r"no ACL that a cluster uses",
        prepare=_user_leaves_every_acl,
        password_survives=False,
    ),
    BadCase(
        "user claimed by another secret",
        r"is rotated by secret .* may not rotate it too",
        prepare=_owned_by_another_secret,
    ),
    BadCase(
        "user claimed by another secret, at setSecret",
        r"is rotated by secret",
        step="setSecret",
        before=("createSecret",),
        prepare=_owned_by_another_secret,
    ),
    BadCase(
        "user left every ACL before finishSecret",
        r"no ACL that a cluster uses",
        step="finishSecret",
        before=("createSecret", "setSecret", "testSecret"),
        prepare=_user_leaves_every_acl,
        password_survives=False,
    ),
    # -- versions ----------------------------------------------------------------------------
    BadCase(
        "AWSPENDING also AWSPREVIOUS",
        r"both AWSPENDING and AWSPREVIOUS",
        prepare=_pending_also_previous,
    ),
    BadCase(
        "AWSCURRENT edited after createSecret (setSecret)",
        r"AWSCURRENT and AWSPENDING differ in 'added_after_create'",
        step="setSecret",
        before=("createSecret",),
        prepare=_add_key_to_current,
    ),
    BadCase(
        "AWSCURRENT edited after createSecret (finishSecret)",
        r"AWSCURRENT and AWSPENDING differ in 'added_after_create'",
        step="finishSecret",
        before=("createSecret", "setSecret", "testSecret"),
        prepare=_add_key_to_current,
    ),
    BadCase(
        "AWSPENDING planted with another host",
        r"different user or endpoint",
        step="setSecret",
        prepare=_pending_host_elsewhere,
        absent_from_output=(RAW_HOST,),
    ),
    # -- settings ----------------------------------------------------------------------------
    BadCase(
        "allow-list of a comma and spaces",
        r"ROTATION_ALLOWED_USERS: .*names no user",
        settings={"ROTATION_ALLOWED_USERS": " , "},
    ),
    BadCase(
        "allow-list of commas",
        r"ROTATION_ALLOWED_USERS: .*names no user",
        settings={"ROTATION_ALLOWED_USERS": ",,,"},
    ),
    BadCase(
        "allow-list naming default",
        r"ROTATION_ALLOWED_USERS: .*'default' user",
        settings={"ROTATION_ALLOWED_USERS": "default"},
    ),
    BadCase(
        "user taken off the allow-list before finishSecret",
        r"not in ROTATION_ALLOWED_USERS",
        step="finishSecret",
        before=("createSecret", "setSecret", "testSecret"),
        prepare=lambda c: c.sandbox.configure_function(ROTATION_ALLOWED_USERS="someone-else"),
        settings={"ROTATION_ALLOWED_USERS": None},  # unset for the steps before, reset after
    ),
    BadCase(
        "CA bundle that is not PEM",
        r"CA_BUNDLE_PATH: .*not a PEM bundle",
        settings={"CA_BUNDLE_PATH": str(ROOT / "pyproject.toml")},
    ),
    BadCase(
        "CA bundle that does not exist",
        r"CA_BUNDLE_PATH: .*no such file",
        settings={"CA_BUNDLE_PATH": str(ROOT / "no-such-bundle.pem")},
    ),
    BadCase("wait timeout zero", r"WAIT_TIMEOUT_SECONDS", settings={"WAIT_TIMEOUT_SECONDS": "0"}),
    BadCase(
        "unknown old-password policy",
        r"OLD_PASSWORD_POLICY",
        settings={"OLD_PASSWORD_POLICY": "sometimes"},
    ),
    BadCase(
        "initial wait over the maximum",
        r"WAIT_INITIAL_INTERVAL_SECONDS must not exceed",
        settings={"WAIT_INITIAL_INTERVAL_SECONDS": "10", "WAIT_MAX_INTERVAL_SECONDS": "1"},
    ),
    BadCase("password length 200", r"PASSWORD_LENGTH", settings={"PASSWORD_LENGTH": "200"}),
    BadCase(
        "negative connect timeout",
        r"CONNECT_TIMEOUT_SECONDS",
        settings={"CONNECT_TIMEOUT_SECONDS": "-1"},
    ),
)
