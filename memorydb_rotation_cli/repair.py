"""`repair [--apply]`: what is wrong, what would make it safe, and (with --apply) doing it.

Only two repairs are automatic, each behind a proof on every node the control plane lists:
- a stale AWSPENDING is removed only when AWSCURRENT authenticates on every node (then readers of
  AWSCURRENT lose nothing, and RotateSecret works again);
- an unfinished drop is completed (`Passwords=[AWSCURRENT's]`) only when AWSCURRENT authenticates
  on every node and no rotation is in progress; InvalidUserStateFault is waited out (bounded).
Everything else is explained with the manual steps.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from memorydb_rotation_cli.aws import aws_errors, describe_failure
from memorydb_rotation_cli.state import Inspection, Inspector, other_secrets, password_of
from memorydb_rotation_cli.status import STALE_AFTER_SECONDS, judge, pending_age, probe
from rotation.adapters.memorydb import OWNER_TAG
from rotation.errors import RotationError, UserBusyError
from rotation.models import AWSCURRENT, AWSPENDING, AWSPREVIOUS
from rotation.proof import Proof, prove
from rotation.waiting import Backoff, Budget, wait_until_active

# The user turns active within minutes (AWS's own tools wait up to 10).
USER_WAIT_SECONDS = 600.0

# Every verdict `repair` gives, with its exit code, and the two automatic actions: the
# vocabularies of repair.schema.json (tests/cli/test_schemas.py).
VERDICTS: dict[str, int] = {
    "nothing-to-repair": 0,
    "would-repair": 1,
    "repaired": 0,
    "manual": 1,
    "refused": 1,
    "failed": 1,
}
ACTIONS = ("remove-pending", "drop-old")


@dataclass
class Finding:
    problem: str
    plan: str
    manual_steps: list[str] = field(default_factory=list)
    action: str | None = None
    applied: str | None = None
    refused: bool = False
    """repair will not act: it could not look, or acting could break a reader."""

    def __post_init__(self) -> None:
        if self.action is not None and self.action not in ACTIONS:
            raise ValueError(f"repair action {self.action} is not in ACTIONS")

    def to_json(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "plan": self.plan,
            "refused": self.refused,
            "action": self.action,
            "manual_steps": self.manual_steps,
            "applied": self.applied,
        }


FINGERPRINT = re.compile(r"sha256:[0-9a-f]{8}")


@dataclass
class Accounting:
    """What repair needs before it writes the user: who owns it, and whose passwords it holds."""

    owner: str | None = None
    owner_problem: str | None = None
    """Why the owner tag could not be read (then nothing writes the user)."""
    proofs: dict[str, Proof] = field(default_factory=dict)
    """This secret's labels -> where their passwords authenticate."""
    others: list[tuple[str, str, str | None, Proof]] = field(default_factory=list)
    """(secret name, label, fingerprint, proof) for each labelled version of another secret
    that names the user."""
    remove_unknown: str | None = None


def _drop_gate(  # noqa: PLR0911 - one refusal per reason, in order
    inspection: Inspection, accounting: Accounting
) -> Finding | None:
    """Why setting the user's passwords to AWSCURRENT's alone could break a reader, as a refused
    finding; None when the password it removes is this secret's own old one (or the one the
    operator named) and the policy allows dropping it."""
    secret, name = inspection.secret, inspection.secret.name
    if accounting.owner_problem is not None:
        return _refuse(
            f"the user's owner tag cannot be read ({accounting.owner_problem})",
            "nothing that writes the user: another secret may own it",
            [f"aws memorydb list-tags --resource-arn {_user_arn(inspection)}"],
        )
    if accounting.owner is not None and accounting.owner != secret.arn:
        return _refuse(
            f"the user belongs to another secret (owner tag {OWNER_TAG}: {accounting.owner})",
            "nothing that writes the user from this secret: it would replace the owner's "
            "passwords with this secret's",
            [f"memorydb-rotation repair {accounting.owner}"],
        )
    policy = inspection.policy
    if policy is None:
        return _refuse(
            "OLD_PASSWORD_POLICY is unknown: the function's configuration cannot be read "
            f"({inspection.function_problem or 'no function'})",
            "nothing that drops a password: under 'keep' the second password is meant to stay",
            [f"memorydb-rotation doctor {name}"],
        )
    if policy == "keep":
        return _refuse(
            "OLD_PASSWORD_POLICY is keep: the second password is meant to stay",
            "nothing that drops a password",
        )
    current_holder = secret.holder(AWSCURRENT)
    current_fp = current_holder.fingerprint if current_holder is not None else None
    named = accounting.remove_unknown
    if named is not None and (not FINGERPRINT.fullmatch(named) or named == current_fp):
        return _refuse(
            f"--remove-unknown {named} is not the fingerprint of a password other than "
            "AWSCURRENT's (sha256: and 8 hex digits)",
            "nothing",
        )
    for other, label, fingerprint, proof in accounting.others:
        if proof.accepted and fingerprint not in {current_fp, named}:
            return _refuse(
                f"the second password is secret {other}'s {label} ({fingerprint}): dropping it "
                f"breaks that secret's readers",
                "nothing automatic: keep one secret per user",
                [
                    f"memorydb-rotation doctor {name}",
                    f"to drop it anyway: memorydb-rotation repair {name} --apply "
                    f"--remove-unknown {fingerprint}",
                ],
            )
    own = [
        stage
        for stage, proof in accounting.proofs.items()
        if stage != AWSCURRENT
        and proof.accepted
        and (holder := secret.holder(stage)) is not None
        and holder.fingerprint != current_fp
    ]
    if own or named is not None:
        return None
    return _refuse(
        "the second password is held by no labelled version of this secret or any other "
        "secret naming the user (added by hand or by another tool): unknown here",
        "nothing: removing a password nobody here can account for needs its fingerprint",
        [
            "if it must go, compute its fingerprint (the first 8 hex digits of its SHA-256: "
            "printf %s PASSWORD | sha256sum) and run "
            f"memorydb-rotation repair {name} --apply --remove-unknown sha256:XXXXXXXX",
        ],
    )


def _refuse(problem: str, plan: str, steps: list[str] | None = None) -> Finding:
    return Finding(problem, plan, steps or [], refused=True)


def _user_arn(inspection: Inspection) -> str:
    return inspection.user.arn if inspection.user else "<the user's ARN>"


def _gated(inspection: Inspection, accounting: Accounting, finding: Finding) -> Finding:
    """The drop finding, or the refusal that stands in its way."""
    return _drop_gate(inspection, accounting) or finding


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


def plan(  # noqa: PLR0912 - one finding per state
    inspection: Inspection,
    current_proof: Proof | None,
    pending_proof: Proof | None,
    *,
    now: datetime,
    now_age: float | None,
    stale_after: float,
    accounting: Accounting | None = None,
) -> list[Finding]:
    accounting = accounting or Accounting()
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
    if current_proof.unreachable and not current_proof.rejected:
        return [
            _refuse(
                "the AWSCURRENT password could not be tried on every node (none refused it): "
                + current_proof.describe(),
                "nothing: the network is the problem, not the passwords; change nothing",
                [
                    "check the path from here to the nodes (VPN, security groups, "
                    "--ca-bundle, --connect-timeout)",
                    f"memorydb-rotation status {name} --probe",
                ],
            )
        ]
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
            ):
                findings.append(
                    _gated(
                        inspection,
                        accounting,
                        Finding(
                            "the abandoned pending password still authenticates on "
                            f"{len(pending_proof.accepted)} node(s)",
                            "drop it: set the user's passwords to AWSCURRENT's alone",
                            action="drop-old",
                        ),
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
    if verdict.code == "cannot-check":
        findings.append(_refuse(verdict.message, "nothing: a check that could not look"))
    elif verdict.code in {"drop-unfinished", "drop-overdue", "drop-schedule-disabled"}:
        if current_everywhere:
            findings.append(
                _gated(
                    inspection,
                    accounting,
                    Finding(
                        verdict.message,
                        "complete the drop: set the user's passwords to AWSCURRENT's alone "
                        f"(it authenticates on every node: {len(current_proof.accepted)})",
                        action="drop-old",
                    ),
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


def _account(
    inspector: Inspector,
    inspection: Inspection,
    verifier: Any,
    proofs: dict[str, Proof],
    *,
    timeout: float,
    remove_unknown: str | None,
) -> Accounting:
    """The owner tag and, when the user holds two passwords, where every labelled password of
    every other secret naming the user authenticates."""
    accounting = Accounting(proofs=proofs, remove_unknown=remove_unknown)
    user, topology, current = inspection.user, inspection.topology, inspection.secret.current
    if user is None:
        return accounting
    try:
        accounting.owner = inspector.directory.owner(user)
    except RotationError as exc:
        accounting.owner_problem = str(exc)
    if user.password_count < 2 or topology is None or current is None:
        return accounting
    for other in other_secrets(inspector, inspection):
        for version in other.versions:
            password = password_of(version)
            if password is None:
                continue
            proof = prove(
                verifier,
                topology.nodes,
                current.username,
                password,
                seconds=timeout,
                clock=time.monotonic,
            )
            label = "+".join(version.stages)
            accounting.others.append((other.name, label, version.fingerprint, proof))
    return accounting


def run(
    inspector: Inspector,
    secret_id: str,
    *,
    verifier: Any,
    apply: bool,
    timeout: float,
    stale_after: float = STALE_AFTER_SECONDS,
    remove_unknown: str | None = None,
) -> dict[str, Any]:
    inspection = inspector.inspect(secret_id)
    probes = probe(
        inspection, verifier, timeout=timeout, stages=(AWSCURRENT, AWSPENDING, AWSPREVIOUS)
    )
    by_stage = {p.stage: p.proof for p in probes}
    accounting = _account(
        inspector, inspection, verifier, by_stage, timeout=timeout, remove_unknown=remove_unknown
    )
    findings = plan(
        inspection,
        by_stage.get(AWSCURRENT),
        by_stage.get(AWSPENDING),
        now=inspector.now(),
        now_age=pending_age(inspection, inspector.now()),
        stale_after=stale_after,
        accounting=accounting,
    )
    if apply:
        apply_findings(inspector, inspection, findings)
    name = inspection.secret.name
    manual = [f for f in findings if f.action is None]
    refused = [f for f in findings if f.refused]
    failed = [f for f in findings if f.applied and f.applied.startswith("failed")]
    actionable = [f for f in findings if f.action is not None]
    if not findings:
        verdict = {"code": "nothing-to-repair", "message": "nothing to repair", "next": None}
    elif refused:
        verdict = {
            "code": "refused",
            "message": "; ".join(f.problem for f in refused),
            "next": refused[0].manual_steps[0] if refused[0].manual_steps else None,
        }
    elif manual or failed:
        verdict = {
            "code": "manual" if manual else "failed",
            "message": "not everything can be made safe automatically; see the steps"
            if manual
            else "a repair failed: " + str(failed[0].applied),
            "next": f"memorydb-rotation status {name} --probe",
        }
    elif apply:
        verdict = {
            "code": "repaired",
            "message": "; ".join(str(f.applied) for f in actionable),
            "next": f"memorydb-rotation status {name} --probe",
        }
    else:
        verdict = {
            "code": "would-repair",
            "message": "; ".join(f.plan for f in actionable),
            "next": f"memorydb-rotation repair {name} --apply",
        }
    # A KeyError here is a verdict missing from VERDICTS (and so from the schema).
    code = VERDICTS[str(verdict["code"])]
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
