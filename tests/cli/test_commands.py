"""Every command end to end against the served sandbox, one test per verdict.

The CLI talks HTTP to moto (AWS_ENDPOINT_URL), RotateSecret runs the real function in the
background with its log lines in moto's CloudWatch Logs, and probes and repairs connect to real
TLS nodes. The `cli` fixture scans every output for every password the sandbox has seen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from memorydb_rotation_cli.aws import fingerprint
from sandbox.sandbox import new_password
from sandbox.server import ServedSandbox
from sandbox.tls import independent_tls_files
from tests.cli.conftest import Cli, Seeded, seed
from tests.cli.documents import checked
from tests.template import cfn

pytestmark = pytest.mark.integration


def _probe(cli: Cli, served: ServedSandbox, arn: str, *extra: str) -> tuple[int, dict[str, Any]]:
    return cli.json("status", arn, "--probe", "--ca-bundle", str(served.ca_bundle), *extra)


def _set_passwords(served: ServedSandbox, user: str, passwords: list[str]) -> None:
    served.sandbox.memorydb_client.update_user(
        UserName=user, AuthenticationMode={"Type": "password", "Passwords": passwords}
    )
    served.sandbox.passwords_seen.update(passwords)
    served.sandbox.settle()


def test_healthy_then_rotate_follow_then_healthy(
    cli: Cli, served: ServedSandbox, seeded: Seeded
) -> None:
    code, before = _probe(cli, served, seeded.arn)
    assert (code, before["verdict"]["code"]) == (0, "healthy")
    nodes = [n["name"] for c in before["clusters"] for n in c["nodes"]]
    assert nodes
    current = before["probe"][0]
    assert current["stage"] == "AWSCURRENT"
    assert current["accepted"] == nodes
    assert not current["rejected"]
    assert before["user"]["password_count"] == 1

    code, rotated = cli.json("rotate", seeded.arn, "--follow", "--timeout", "60")
    assert (code, rotated["result"]) == (0, "succeeded")
    steps = [e["detail"] for e in rotated["events"] if e["kind"] == "step"]
    assert [s.split()[0] for s in steps] == [
        "createSecret",
        "setSecret",
        "testSecret",
        "finishSecret",
    ]
    assert all("succeeded" in s for s in steps)

    served.sandbox.settle()
    code, after = _probe(cli, served, seeded.arn)
    assert (code, after["verdict"]["code"]) == (0, "healthy")
    by_stage = {p["stage"]: p for p in after["probe"]}
    # The new password works everywhere, the old one nowhere (policy drop), and the fingerprints
    # tell them apart: the old AWSCURRENT is now AWSPREVIOUS.
    assert by_stage["AWSCURRENT"]["accepted"] == nodes
    assert by_stage["AWSPREVIOUS"]["rejected"] == nodes
    assert by_stage["AWSPREVIOUS"]["fingerprint"] == current["fingerprint"]
    assert by_stage["AWSCURRENT"]["fingerprint"] != current["fingerprint"]


def test_failed_step_exits_1_with_the_step_and_reason_from_the_log(
    cli: Cli, served: ServedSandbox, seeded: Seeded
) -> None:
    # Someone changed the user's password outside the service: createSecret refuses.
    _set_passwords(served, seeded.user, [new_password()])
    code, doc = cli.json("rotate", seeded.arn, "--follow", "--timeout", "60")
    assert code == 1
    assert (doc["result"], doc["failed_step"]) == ("failed", "createSecret")
    assert doc["error"] == "CurrentPasswordRejectedError"
    assert "AWSCURRENT password does not authenticate" in doc["reason"]

    # The function's log says the rotation failed; AWSCURRENT works nowhere, so repair explains
    # instead of acting, and changes nothing.
    code, status = cli.json("status", seeded.arn, "--stale-after", "0")
    assert (code, status["verdict"]["code"]) == (1, "rotation-failed")
    code, repair = cli.json(
        "repair", seeded.arn, "--apply", "--stale-after", "0", "--ca-bundle", str(served.ca_bundle)
    )
    assert (code, repair["verdict"]["code"]) == (1, "manual")
    assert repair["findings"][0]["manual_steps"]
    assert served.sandbox.view(seeded.arn).version_with("AWSPENDING") is not None


def test_follow_ends_on_a_transient_failure_that_no_retry_follows(
    cli: Cli, served: ServedSandbox, tmp_path: Path
) -> None:
    # The function trusts another CA than the nodes': every step that connects fails with
    # ClusterUnreachableError (transient, so Secrets Manager retries); the sandbox's service
    # stops after its attempts, and the follow ends after the retry wait, not at --timeout.
    other_ca = independent_tls_files(tmp_path).ca_cert
    served.deploy_function("other-ca", environment={"CA_BUNDLE_PATH": str(other_ca)})
    seeded = seed(served, function="other-ca")
    code, doc = cli.json("rotate", seeded.arn, "--follow", "--timeout", "600", "--retry-wait", "3")
    assert code == 1
    assert (doc["result"], doc["failed_step"]) == ("failed", "createSecret")
    assert (doc["error"], doc["retry_wait"]) == ("ClusterUnreachableError", 3)
    assert "no retry logged within 3 s" in doc["verdict"]["message"]
    failures = [e for e in doc["events"] if e["kind"] == "step" and "failed" in e["detail"]]
    assert len(failures) == served.step_attempts
    text = cli("rotate", "--help").stdout
    assert "--retry-wait" in text
    assert "does not document" in text


def test_stale_pending_is_removed_only_with_apply(cli: Cli, served: ServedSandbox) -> None:
    served.deploy_function("refuses-everyone", environment={"ROTATION_ALLOWED_USERS": "nobody"})
    seeded = seed(served, function="refuses-everyone")
    code, doc = cli.json("rotate", seeded.arn, "--follow", "--timeout", "60")
    assert (code, doc["error"]) == (1, "UserRefusedError")
    pending = served.sandbox.view(seeded.arn).version_with("AWSPENDING")
    assert pending is not None

    # Young, but the function logged the refusal: a failed rotation, not one still running.
    code, status = cli.json("status", seeded.arn)
    assert (code, status["verdict"]["code"]) == (1, "rotation-failed")
    assert status["pending"]["version"] == pending
    assert f"memorydb-rotation repair {status['secret']['name']}" in status["verdict"]["next"]

    # RotateSecret itself refuses while it stands.
    code, refused = cli.json("rotate", seeded.arn)
    assert (code, refused["result"]) == (1, "refused")
    assert "previous rotation isn't complete" in refused["reason"]
    assert "--resume" in refused["verdict"]["next"]

    ca = ("--ca-bundle", str(served.ca_bundle), "--stale-after", "0")
    code, plan = cli.json("repair", seeded.arn, *ca)
    assert (code, plan["verdict"]["code"]) == (1, "would-repair")
    assert served.sandbox.view(seeded.arn).version_with("AWSPENDING") == pending

    code, done = cli.json("repair", seeded.arn, "--apply", *ca)
    assert (code, done["verdict"]["code"]) == (0, "repaired")
    assert served.sandbox.view(seeded.arn).version_with("AWSPENDING") is None
    assert served.sandbox.authenticates(seeded.user, seeded.password)
    code, status = cli.json("status", seeded.arn)
    assert (code, status["verdict"]["code"]) == (0, "healthy")


def test_unfinished_drop_of_an_unknown_password_needs_its_fingerprint(
    cli: Cli, served: ServedSandbox, seeded: Seeded
) -> None:
    old = new_password()
    _set_passwords(served, seeded.user, [seeded.password, old])
    code, status = _probe(cli, served, seeded.arn)
    assert (code, status["verdict"]["code"]) == (1, "drop-unfinished")
    assert status["user"]["password_count"] == 2

    # No labelled version of any secret holds `old`: repair says so and removes nothing.
    ca = ("--ca-bundle", str(served.ca_bundle))
    code, refused = cli.json("repair", seeded.arn, "--apply", *ca)
    assert (code, refused["verdict"]["code"]) == (1, "refused")
    assert "unknown here" in refused["verdict"]["message"]
    served.sandbox.settle()
    assert all(served.sandbox.accepts_everywhere(seeded.user, old).values())

    # Naming AWSCURRENT's fingerprint as the unknown one is refused too.
    current_fp = status["probe"][0]["fingerprint"]
    code, refused = cli.json("repair", seeded.arn, "--apply", "--remove-unknown", current_fp, *ca)
    assert (code, refused["verdict"]["code"]) == (1, "refused")

    code, done = cli.json(
        "repair", seeded.arn, "--apply", "--remove-unknown", fingerprint(old), *ca
    )
    assert (code, done["verdict"]["code"]) == (0, "repaired")
    served.sandbox.settle()
    assert not any(served.sandbox.accepts_everywhere(seeded.user, old).values())
    assert all(served.sandbox.accepts_everywhere(seeded.user, seeded.password).values())
    code, status = _probe(cli, served, seeded.arn)
    assert (code, status["verdict"]["code"]) == (0, "healthy")


def test_two_passwords_are_healthy_under_keep(cli: Cli, served: ServedSandbox) -> None:
    served.deploy_function("keeps-old", environment={"OLD_PASSWORD_POLICY": "keep"})
    seeded = seed(served, function="keeps-old")
    _set_passwords(served, seeded.user, [seeded.password, new_password()])
    code, status = cli.json("status", seeded.arn)
    assert (code, status["verdict"]["code"]) == (0, "healthy")
    code, plan = cli.json("repair", seeded.arn, "--ca-bundle", str(served.ca_bundle))
    assert (code, plan["verdict"]["code"]) == (0, "nothing-to-repair")


def test_doctor_names_a_misconfigured_function(cli: Cli, served: ServedSandbox) -> None:
    served.deploy_function(
        "misconfigured",
        environment={"ROTATION_ALLOWED_USERS": "someone-else", "WAIT_TIMEOUT_SECONDS": "600"},
        timeout=120,
    )
    seeded = seed(served, function="misconfigured")
    code, doc = cli.json("doctor", seeded.arn)
    assert code == 1
    checks = {c["id"]: c for c in doc["checks"]}
    assert checks["function-settings"]["result"] == "fail"
    assert "ROTATION_ALLOWED_USERS" in checks["function-settings"]["detail"]
    assert checks["function-timeout"]["result"] == "fail"
    assert all(c["fix"] for c in doc["checks"] if c["result"] == "fail")
    for passing in ("secret-document", "user-exists", "user-clusters", "secret-host"):
        assert checks[passing]["result"] == "pass"

    # Asked about another function than the one rotation runs: that is the first failure.
    code, doc = cli.json("doctor", seeded.arn, "--function", "memorydb-rotation")
    checks = {c["id"]: c for c in doc["checks"]}
    assert code == 1
    assert checks["rotation-function"]["result"] == "fail"
    assert "misconfigured" in checks["rotation-function"]["detail"]
    assert checks["function-settings"]["result"] == "pass"


def test_doctor_names_missing_permissions(cli: Cli, served: ServedSandbox, seeded: Seeded) -> None:
    # The sandbox's role has no policy at all: every call the function makes is denied.
    code, doc = cli.json("doctor", seeded.arn)
    checks = {c["id"]: c for c in doc["checks"]}
    assert code == 1
    assert checks["role-permissions"]["result"] == "fail"
    assert "secretsmanager:PutSecretValue" in checks["role-permissions"]["detail"]
    assert "memorydb:UpdateUser" in checks["role-permissions"]["detail"]


def _template_role_policy(secret_arn: str, user: str) -> dict[str, Any]:
    """The rotation role's statements as template.yaml gives them for this secret and user
    (its inline policy and the managed policies it attaches), read from the template itself."""
    template = cfn.load(cfn.ROOT / "template.yaml")
    evaluator = cfn.Evaluator(template, {"SecretArns": secret_arn, "RotatableUsers": user})
    attached = {"RotationRole", "KmsThroughSecretsManagerPolicy", "DropSchedulePolicy"}
    statements = []
    for statement in cfn.iam_statements(template, evaluator):
        # Resources known only once deployed (<GetAtt LogGroup.Arn>) name nothing here.
        resources = [r for r in statement["Resource"] if not r.startswith("<")]
        if statement["_where"] in attached and resources:
            kept = {k: v for k, v in statement.items() if k != "_where"}
            statements.append({**kept, "Resource": resources})
    return {"Version": "2012-10-17", "Statement": statements}


@pytest.mark.parametrize("untag", [True, False], ids=["template", "without-UntagResource"])
def test_doctor_passes_the_role_the_template_would_give(
    cli: Cli, served: ServedSandbox, seeded: Seeded, untag: bool
) -> None:
    iam = served.client("iam")
    policy = _template_role_policy(seeded.arn, seeded.user)
    assert any("memorydb:UntagResource" in s["Action"] for s in policy["Statement"])
    if not untag:
        # The role before claim tags: TagResource alone, and only the owner tag's key.
        for statement in policy["Statement"]:
            if "memorydb:UntagResource" in statement["Action"]:
                statement["Action"].remove("memorydb:UntagResource")
    role = "memorydb-rotation-role"
    iam.put_role_policy(RoleName=role, PolicyName="rotation", PolicyDocument=json.dumps(policy))
    try:
        _code, doc = cli.json("doctor", seeded.arn)
    finally:
        iam.delete_role_policy(RoleName=role, PolicyName="rotation")
    checks = {c["id"]: c for c in doc["checks"]}
    if untag:
        assert checks["role-permissions"]["result"] == "pass", checks["role-permissions"]
        return
    assert checks["role-permissions"]["result"] == "fail"
    assert checks["role-permissions"]["detail"].count("memorydb:UntagResource on ") == 1


def test_json_is_one_document_and_text_is_plain_when_piped(
    cli: Cli, served: ServedSandbox, seeded: Seeded
) -> None:
    result = cli("status", seeded.arn, "--json")
    assert result.stdout.lstrip().startswith("{")
    assert result.stdout.rstrip().endswith("}")
    assert result.doc["command"] == "status"
    text = cli("status", seeded.arn)
    assert text.exit_code == 0
    assert "verdict: healthy" in text.stdout
    assert "\x1b[" not in text.stdout  # no colour codes when not a terminal


def test_access_and_usage_errors_exit_2(cli: Cli) -> None:
    result = cli("status", "no-such-secret", "--json")
    assert result.exit_code == 2
    assert result.doc == {
        "command": "status",
        "error": "there is no secret no-such-secret in region us-east-1, account 123456789012",
        "exit_code": 2,
    }
    assert cli("status").exit_code == 2
    assert cli("rotate", "x", "--no-such-option").exit_code == 2


def test_the_console_script_runs_against_the_sandbox(served: ServedSandbox, seeded: Seeded) -> None:
    script = Path(sys.executable).with_name("memorydb-rotation")
    result = subprocess.run(
        [str(script), "status", seeded.arn, "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_ENDPOINT_URL": served.endpoint},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"code": "healthy"' in result.stdout
    assert checked(json.loads(result.stdout))["verdict"]["code"] == "healthy"
    assert seeded.password not in result.stdout + result.stderr


def test_doctor_refuses_a_host_outside_the_users_clusters(cli: Cli, served: ServedSandbox) -> None:
    box = served.sandbox
    password = box.create_user("cli-user-elsewhere")
    arn = box.create_secret(
        "cli-user-elsewhere", password, rotation=False, host="attacker.example.com", port=6379
    )
    served.enable_rotation(arn, "arn:aws:lambda:us-east-1:123456789012:function:memorydb-rotation")
    code, doc = cli.json("doctor", arn)
    checks = {c["id"]: c for c in doc["checks"]}
    assert code == 1
    assert checks["secret-host"]["result"] == "fail"
    assert "attacker.example.com" not in checks["secret-host"]["detail"]
    assert checks["user-clusters"]["result"] == "pass"


def test_rotate_without_follow_starts_and_returns(
    cli: Cli, served: ServedSandbox, seeded: Seeded
) -> None:
    code, doc = cli.json("rotate", seeded.arn)
    assert (code, doc["result"], doc["events"]) == (0, "started", [])
    served.wait_idle()
    assert served.sandbox.view(seeded.arn).version_with("AWSCURRENT") == doc["token"]


def test_a_scheduled_drop_is_reported_and_not_repaired(
    cli: Cli, served: ServedSandbox, seeded: Seeded
) -> None:
    # What finishSecret leaves with OLD_PASSWORD_POLICY=drop-after: two passwords and a one-time
    # schedule that will invoke the function with this secret in its input.
    _set_passwords(served, seeded.user, [new_password(), seeded.password])
    served.client("scheduler").create_schedule(
        Name="drop-old-password-cli-test",
        ScheduleExpression="at(2030-01-01T00:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": seeded.function_arn,
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
            "Input": json.dumps({"action": "drop-old-password", "SecretId": seeded.arn}),
        },
    )
    code, status = cli.json("status", seeded.arn)
    assert (code, status["verdict"]["code"]) == (0, "drop-scheduled")
    assert status["scheduled_drop"]["name"] == "drop-old-password-cli-test"
    assert status["scheduled_drop"]["expression"] == "at(2030-01-01T00:00:00)"
    code, plan = cli.json("repair", seeded.arn, "--ca-bundle", str(served.ca_bundle))
    assert (code, plan["verdict"]["code"]) == (0, "nothing-to-repair")


def test_a_failed_rotation_whose_pending_password_works_is_resumed(
    cli: Cli, served: ServedSandbox, seeded: Seeded
) -> None:
    # createSecret wrote the pending version and setSecret gave it to the user; then the
    # rotation failed. The pending password already works on every node.
    pending_password = new_password()
    token = "22222222-3333-4444-8555-666677778888"
    served.sandbox.stage_pending(seeded.arn, token)
    served.sandbox.put_version(
        seeded.arn,
        token,
        json.dumps(served.sandbox.secret_document(seeded.user, pending_password)),
        ["AWSPENDING"],
    )
    _set_passwords(served, seeded.user, [pending_password, seeded.password])

    code, refused = cli.json("rotate", seeded.arn)
    assert (code, refused["result"]) == (1, "refused")
    assert "--resume" in refused["verdict"]["next"]

    code, doc = cli.json("rotate", seeded.arn, "--resume", "--follow", "--timeout", "120")
    assert (code, doc["result"], doc["token"]) == (0, "succeeded", token)
    served.sandbox.settle()
    assert served.sandbox.view(seeded.arn).version_with("AWSCURRENT") == token
    assert all(served.sandbox.accepts_everywhere(seeded.user, pending_password).values())
