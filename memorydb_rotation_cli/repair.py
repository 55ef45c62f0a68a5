"""`repair [--apply]`: what is wrong, what would make it safe, and (with --apply) doing it.

Only two repairs are automatic, each behind a proof on every node the control plane lists:
- a stale AWSPENDING is removed only when AWSCURRENT authenticates on every node (then readers of
  AWSCURRENT lose nothing, and RotateSecret works again);
- an unfinished drop is completed (`Passwords=[AWSCURRENT's]`) only when AWSCURRENT authenticates
  on every node and no rotation is in progress; InvalidUserStateFault is waited out (bounded).
Everything else is explained with the manual steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from memorydb_rotation_cli.aws import aws_errors, describe_failure
from memorydb_rotation_cli.state import Inspection, Inspector, password_of
from memorydb_rotation_cli.status import STALE_AFTER_SECONDS, judge, pending_age, probe
from rotation.errors import RotationError, UserBusyError
from rotation.models import AWSCURRENT, AWSPENDING
from rotation.proof import Proof
from rotation.waiting import Backoff, Budget, wait_until_active

# The user turns active within minutes (AWS's own tools wait up to 10).
USER_WAIT_SECONDS = 600.0


@dataclass
class Finding:
    problem: str
    plan: str
    manual_steps: list[str] = field(default_factory=list)
    action: str | None = None
    applied: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "plan": self.plan,
            "action": self.action,
            "manual_steps": self.manual_steps,
            "applied": self.applied,
        }


def _runbook(name: str) -> list[str]:
    return [
        f"aws secretsmanager describe-secret --secret-id {name} --query VersionIdsToStages",
        "decide which password is right: the user's (aws memorydb describe-users) or the "
        "secret's AWSCURRENT; store the working one with aws secretsmanager put-secret-value, "
        "or give the user the secret's with aws memorydb update-user",
        f"aws secretsmanager update-secret-version-stage --secret-id {name} "
        "--version-stage AWSPENDING --remove-from-version-id <the AWSPENDING version id>",
        f"memorydb-rotation status {name} --probe",
    ]


def plan(
    inspection: Inspection,
    current_proof: Proof | None,
    pending_proof: Proof | None,
    *,
    now: datetime,
    now_age: float | None,
    stale_after: float,
) -> list[Finding]:
    secret, name = inspection.secret, inspection.secret.name
    current = secret.current
    if current is None:
        holder = secret.holder(AWSCURRENT)
        why = (holder.problem if holder else None) or "no version is AWSCURRENT"
        return [
            Finding(
                f"AWSCURRENT cannot be used ({why})",
                "nothing automatic: the secret's document must be fixed first",
                _runbook(name),
            )
        ]
    if inspection.user is None or inspection.topology is None or current_proof is None:
        why = inspection.user_problem or inspection.topology_problem or "unknown"
        return [
            Finding(
                f"the user or its clusters cannot be read: {why}",
                "nothing automatic: without the user's nodes nothing can be proven",
                [f"memorydb-rotation doctor {name}"],
            )
        ]
    findings: list[Finding] = []
    current_everywhere = current_proof.everywhere
    stale = secret.stale_candidate
    if stale is not None and now_age is not None:
        if now_age <= stale_after:
            return [
                Finding(
                    f"AWSPENDING on version {stale.id} for {now_age:.0f} s: a rotation may "
                    "still be running",
                    f"nothing now; wait, or pass --stale-after {int(now_age) // 2} to treat it "
                    "as failed",
                )
            ]
        if current_everywhere:
            findings.append(
                Finding(
                    f"stale AWSPENDING on version {stale.id} (a failed rotation)",
                    "remove the AWSPENDING label: AWSCURRENT authenticates on every node "
                    f"({len(current_proof.accepted)})",
                    action="remove-pending",
                )
            )
            if (
                inspection.user.password_count == 2
                and pending_proof is not None
                and pending_proof.accepted
                and _policy(inspection) != "keep"
            ):
                findings.append(
                    Finding(
                        "the abandoned pending password still authenticates on "
                        f"{len(pending_proof.accepted)} node(s)",
                        "drop it: set the user's passwords to AWSCURRENT's alone",
                        action="drop-old",
                    )
                )
        else:
            findings.append(
                Finding(
                    f"stale AWSPENDING on version {stale.id}, and AWSCURRENT does not "
                    "authenticate on every node",
                    "nothing automatic: removing AWSPENDING now could leave no working password",
                    _runbook(name),
                )
            )
        return findings
    verdict = judge(inspection, [], now=now, stale_after=stale_after)
    if verdict.code == "drop-unfinished":
        if current_everywhere:
            findings.append(
                Finding(
                    verdict.message,
                    "complete the drop: set the user's passwords to AWSCURRENT's alone "
                    f"(it authenticates on every node: {len(current_proof.accepted)})",
                    action="drop-old",
                )
            )
        else:
            findings.append(
                Finding(
                    verdict.message + "; AWSCURRENT does not authenticate on every node",
                    "nothing automatic: dropping now could leave no working password",
                    _runbook(name),
                )
            )
    elif not current_everywhere:
        findings.append(
            Finding(
                "the AWSCURRENT password does not authenticate on every node",
                "nothing automatic",
                _runbook(name),
            )
        )
    return findings


def _policy(inspection: Inspection) -> str | None:
    return inspection.function.policy if inspection.function else None


def apply_findings(
    inspector: Inspector,
    inspection: Inspection,
    findings: list[Finding],
    *,
    clock: Any = time.monotonic,
    sleep: Any = time.sleep,
) -> None:

    secret = inspection.secret
    for finding in findings:
        if finding.action == "remove-pending":
            stale = secret.stale_candidate
            if stale is None:
                continue
            try:
                inspector.aws.client("secretsmanager").update_secret_version_stage(
                    SecretId=secret.arn, VersionStage=AWSPENDING, RemoveFromVersionId=stale.id
                )
            except aws_errors() as exc:
                finding.applied = "failed: " + describe_failure(exc, "UpdateSecretVersionStage")
                return
            finding.applied = f"removed AWSPENDING from version {stale.id}"
        elif finding.action == "drop-old":
            finding.applied = _drop(inspector, inspection, clock=clock, sleep=sleep)
            if finding.applied.startswith("failed"):
                return


def _drop(inspector: Inspector, inspection: Inspection, *, clock: Any, sleep: Any) -> str:
    password = password_of(inspection.secret.holder(AWSCURRENT))
    if inspection.user is None or password is None:
        return "failed: the user or the AWSCURRENT password is unknown"
    budget = Budget(clock=clock, sleep=sleep, deadline=clock() + USER_WAIT_SECONDS)
    backoff = Backoff(0.5, 5.0)
    name = inspection.user.name
    try:
        while True:
            wait_until_active(inspector.directory, name, budget, backoff)
            try:
                inspector.directory.set_passwords(name, [password])
            except UserBusyError:
                continue
            return f"user {name}: passwords set to AWSCURRENT's alone (propagating)"
    except RotationError as exc:
        return f"failed: {exc}"


def run(
    inspector: Inspector,
    secret_id: str,
    *,
    verifier: Any,
    apply: bool,
    timeout: float,
    stale_after: float = STALE_AFTER_SECONDS,
) -> dict[str, Any]:
    inspection = inspector.inspect(secret_id)
    probes = probe(inspection, verifier, timeout=timeout, stages=(AWSCURRENT, AWSPENDING))
    by_stage = {p.stage: p.proof for p in probes}
    findings = plan(
        inspection,
        by_stage.get(AWSCURRENT),
        by_stage.get(AWSPENDING),
        now=inspector.now(),
        now_age=pending_age(inspection, inspector.now()),
        stale_after=stale_after,
    )
    if apply:
        apply_findings(inspector, inspection, findings)
    name = inspection.secret.name
    manual = [f for f in findings if f.action is None]
    failed = [f for f in findings if f.applied and f.applied.startswith("failed")]
    actionable = [f for f in findings if f.action is not None]
    if not findings:
        verdict = {"code": "nothing-to-repair", "message": "nothing to repair", "next": None}
        code = 0
    elif manual or failed:
        verdict = {
            "code": "manual" if manual else "failed",
            "message": "not everything can be made safe automatically; see the steps"
            if manual
            else "a repair failed: " + str(failed[0].applied),
            "next": f"memorydb-rotation status {name} --probe",
        }
        code = 1
    elif apply:
        verdict = {
            "code": "repaired",
            "message": "; ".join(str(f.applied) for f in actionable),
            "next": f"memorydb-rotation status {name} --probe",
        }
        code = 0
    else:
        verdict = {
            "code": "would-repair",
            "message": "; ".join(f.plan for f in actionable),
            "next": f"memorydb-rotation repair {name} --apply",
        }
        code = 1
    return {
        "command": "repair",
        "secret": inspection.secret.arn,
        "applied": apply,
        "probe": [p.to_json() for p in probes],
        "findings": [f.to_json() for f in findings],
        "cannot_check": [u.to_json() for u in inspection.unknown],
        "verdict": verdict,
        "exit_code": code,
    }
