"""`status`: what the secret, the user and its clusters look like now, and one verdict."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from memorydb_rotation_cli.state import (
    STAGES,
    Inspection,
    Inspector,
    StepLine,
    at_time,
    iso,
    password_of,
)
from rotation.models import AWSCURRENT, AWSPENDING, MemoryDBUser, Topology
from rotation.proof import Proof, prove

# A rotation runs four steps of at most 900 s each: an AWSPENDING older than an hour is left
# over from a failed rotation, not one still running.
STALE_AFTER_SECONDS = 3600.0

# AWS's own tools wait up to 10 minutes for a user to turn active (docs/domain.md).
MODIFYING_AFTER_SECONDS = 600.0
# EventBridge Scheduler fires within a minute of at() and retries for up to 24 h; a drop not done
# a quarter of an hour after its time has failed at least once.
OVERDUE_AFTER_SECONDS = 900.0

OK, PROBLEM, ACCESS = 0, 1, 2

# Every verdict `judge` can give, in its order of precedence, with its exit code: the vocabulary
# of status.schema.json (tests/cli/test_schemas.py holds the two equal).
VERDICTS: dict[str, int] = {
    "cannot-check": ACCESS,
    "secret-invalid": PROBLEM,
    "user-problem": PROBLEM,
    "rotation-failed": PROBLEM,
    "stale-pending": PROBLEM,
    "current-rejected": PROBLEM,
    "nodes-unreachable": ACCESS,
    "rotation-in-progress": OK,
    "no-cluster": PROBLEM,
    "rotation-disabled": PROBLEM,
    "user-stuck-modifying": PROBLEM,
    "user-modifying": OK,
    "drop-schedule-disabled": PROBLEM,
    "drop-overdue": PROBLEM,
    "drop-scheduled": OK,
    "drop-unfinished": PROBLEM,
    "healthy": OK,
}


@dataclass(frozen=True)
class Verdict:
    code: str
    message: str
    next: str | None
    exit_code: int

    def __post_init__(self) -> None:
        # A verdict outside the table would print a document its schema rejects.
        if VERDICTS.get(self.code) != self.exit_code:
            raise ValueError(f"verdict {self.code} with exit {self.exit_code} is not in VERDICTS")

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "next": self.next}


@dataclass(frozen=True)
class Probe:
    stage: str
    fingerprint: str | None
    proof: Proof

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "fingerprint": self.fingerprint,
            "accepted": [node.name for node in self.proof.accepted],
            "rejected": [node.name for node in self.proof.rejected],
            "unreachable": dict(self.proof.unreachable),
        }


def make_verifier(ca_bundle: Path | None, timeout: float) -> Any:
    from rotation.adapters.redis_verifier import RedisVerifier

    return RedisVerifier(ca_bundle=ca_bundle, timeout_seconds=timeout)


def probe(
    inspection: Inspection,
    verifier: Any,
    *,
    timeout: float,
    stages: tuple[str, ...] = STAGES,
    clock: Callable[[], float] = time.monotonic,
) -> list[Probe]:
    """Which labelled passwords authenticate on each discovered node (never on the secret's host:
    a password goes only where MemoryDB's control plane says the user lives)."""
    topology, current = inspection.topology, inspection.secret.current
    if topology is None or current is None:
        return []
    probes: list[Probe] = []
    seen: set[str] = set()
    for stage in stages:
        version = inspection.secret.holder(stage)
        password = password_of(version)
        if version is None or password is None or version.id in seen:
            continue
        seen.add(version.id)
        proof = prove(
            verifier,
            topology.nodes,
            current.username,
            password,
            seconds=timeout,
            clock=clock,
        )
        probes.append(Probe(stage, version.fingerprint, proof))
    return probes


def pending_age(inspection: Inspection, now: datetime) -> float | None:
    pending = inspection.secret.stale_candidate
    if pending is None:
        return None
    if pending.created is None:
        return float("inf")
    return (now - pending.created).total_seconds()


def judge(  # noqa: PLR0911, PLR0912 - one verdict per state, in order of precedence
    inspection: Inspection,
    probes: list[Probe],
    *,
    now: datetime,
    stale_after: float = STALE_AFTER_SECONDS,
    modifying_after: float = MODIFYING_AFTER_SECONDS,
    overdue_after: float = OVERDUE_AFTER_SECONDS,
) -> Verdict:
    secret, name = inspection.secret, inspection.secret.name
    current_version = secret.holder(AWSCURRENT)
    if current_version is None or current_version.credentials is None:
        why = current_version.problem if current_version else "no version is AWSCURRENT"
        if why and "access denied" in why:
            return Verdict("cannot-check", f"AWSCURRENT cannot be read: {why}", None, ACCESS)
        return Verdict(
            "secret-invalid",
            f"AWSCURRENT cannot be used: {why}",
            f"memorydb-rotation doctor {name}",
            PROBLEM,
        )
    if inspection.user is None and any(u.what == "the user" for u in inspection.unknown):
        return Verdict(
            "cannot-check", f"the user cannot be read: {inspection.user_problem}", None, ACCESS
        )
    if inspection.user is None:
        return Verdict(
            "user-problem",
            inspection.user_problem or "the user could not be read",
            f"memorydb-rotation doctor {name}",
            PROBLEM,
        )
    age = pending_age(inspection, now)
    last = inspection.last_step
    if age is not None and last is not None and last.failed:
        return _failed_rotation(inspection, last)
    if age is not None and age > stale_after:
        since = iso(secret.stale_candidate.created) if secret.stale_candidate else None
        return Verdict(
            "stale-pending",
            f"AWSPENDING has stood on another version than AWSCURRENT since {since} and the "
            "function logged no failure for it: a rotation that ended without finishing; "
            "RotateSecret answers 'A previous rotation isn't complete'",
            f"memorydb-rotation rotate {name} --resume (retry it), or "
            f"memorydb-rotation repair {name} (abandon it)",
            PROBLEM,
        )
    current_probe = next((p for p in probes if p.stage == AWSCURRENT), None)
    if current_probe is not None and current_probe.proof.rejected:
        return Verdict(
            "current-rejected",
            "the AWSCURRENT password is refused by "
            f"{len(current_probe.proof.rejected)} node(s): " + _proof_problems(current_probe.proof),
            f"memorydb-rotation repair {name}",
            PROBLEM,
        )
    if current_probe is not None and not current_probe.proof.everywhere:
        return Verdict(
            "nodes-unreachable",
            "the AWSCURRENT password could not be tried on every node (none refused it): "
            + _proof_problems(current_probe.proof),
            "check the network path from here to the nodes (VPN, security groups, "
            "--ca-bundle, --connect-timeout); the passwords are not the problem: change nothing",
            ACCESS,
        )
    if age is not None:
        return Verdict(
            "rotation-in-progress",
            f"a rotation is in progress (AWSPENDING since {age:.0f} s)",
            f"memorydb-rotation status {name}",
            OK,
        )
    if inspection.topology is None:
        return Verdict(
            "no-cluster",
            inspection.topology_problem or "the user's clusters could not be read",
            f"memorydb-rotation doctor {name}",
            PROBLEM,
        )
    if not secret.rotation_enabled:
        return Verdict(
            "rotation-disabled",
            "rotation is not enabled on this secret",
            f"memorydb-rotation doctor {name}",
            PROBLEM,
        )
    user = inspection.user
    if user.status != "active":
        return _modifying(inspection, user, now, modifying_after)
    if user.password_count == 2:
        return _two_passwords(inspection, now, overdue_after)
    return Verdict(
        "healthy",
        f"one password, AWSCURRENT in place, user active on {_where(inspection.topology)}",
        f"memorydb-rotation rotate {name} --follow (to rotate now)",
        OK,
    )


def _failed_rotation(inspection: Inspection, last: StepLine) -> Verdict:
    from memorydb_rotation_cli.rotate import permanent

    name = inspection.secret.name
    kind = (
        "a refusal: it repeats until its cause is fixed"
        if permanent(last.error or "")
        else ("transient: a retry with the same token may finish it")
    )
    return Verdict(
        "rotation-failed",
        f"the last rotation failed at {last.step}: {last.error}: {last.reason} "
        f"(logged {iso(last.at)}; {kind})",
        f"fix the cause, then memorydb-rotation rotate {name} --resume; or "
        f"memorydb-rotation repair {name} to abandon it",
        PROBLEM,
    )


def _modifying(
    inspection: Inspection, user: MemoryDBUser, now: datetime, modifying_after: float
) -> Verdict:
    """MemoryDB gives no time for a user's change: the newest write this secret's rotation
    made (a version's creation, LastRotatedDate) bounds it from above."""
    name = inspection.secret.name
    moments = [v.created for v in inspection.secret.versions if v.created is not None]
    if inspection.secret.last_rotated is not None:
        moments.append(inspection.secret.last_rotated)
    since = max(moments) if moments else None
    age = (now - since).total_seconds() if since is not None else None
    if age is not None and age > modifying_after:
        return Verdict(
            "user-stuck-modifying",
            f"the user has been '{user.status}' for up to {age:.0f} s (since the last write at "
            f"{iso(since)}; threshold {modifying_after:.0f} s)",
            "aws memorydb describe-acls and describe-clusters --show-shard-details (Status, "
            "PendingUpdates) for the user's clusters; if a cluster stays 'modifying', open a "
            "case with AWS Support; do not update the user meanwhile",
            PROBLEM,
        )
    told = f"for up to {age:.0f} s" if age is not None else "(age unknown)"
    return Verdict(
        "user-modifying",
        f"the user is '{user.status}' {told}: a change is still reaching its clusters "
        f"(threshold {modifying_after:.0f} s)",
        f"memorydb-rotation status {name}",
        OK,
    )


def _two_passwords(  # noqa: PLR0911 - one verdict per state
    inspection: Inspection, now: datetime, overdue_after: float
) -> Verdict:
    name = inspection.secret.name
    drop = inspection.scheduled_drop
    if drop is not None:
        at = at_time(drop.get("expression"))
        state = str(drop.get("state") or "ENABLED")
        if state != "ENABLED":
            return Verdict(
                "drop-schedule-disabled",
                f"the old password's drop is scheduled ({drop.get('expression')}) but the "
                f"schedule is {state}: it will never fire",
                f"memorydb-rotation repair {name}",
                PROBLEM,
            )
        if at is not None and (now - at).total_seconds() > overdue_after:
            return Verdict(
                "drop-overdue",
                f"the old password's drop was due {iso(at)} and the user still holds two "
                f"passwords ({(now - at).total_seconds():.0f} s late)",
                f"memorydb-rotation history {name} (the drop's outcome), then "
                f"memorydb-rotation repair {name}",
                PROBLEM,
            )
        return Verdict(
            "drop-scheduled",
            "the old password is kept for its grace period; its drop is scheduled for "
            f"{iso(at) if at else drop.get('expression')}",
            f"memorydb-rotation status {name}",
            OK,
        )
    function = inspection.function
    if function is None:
        why = inspection.function_problem or "the secret names no rotation function"
        return Verdict(
            "cannot-check",
            "the user holds two passwords and OLD_PASSWORD_POLICY decides whether that is right, "
            f"but the function's configuration cannot be read: {why}",
            "grant lambda:GetFunctionConfiguration on the function, or check that it exists",
            ACCESS,
        )
    if function.policy == "keep":
        return Verdict(
            "healthy",
            "two passwords, as OLD_PASSWORD_POLICY=keep leaves them",
            None,
            OK,
        )
    if function.policy == "drop-after" and not _grace_over(inspection, now):
        return Verdict(
            "healthy",
            "two passwords within the grace period of OLD_PASSWORD_POLICY=drop-after",
            None,
            OK,
        )
    return Verdict(
        "drop-unfinished",
        f"the user still holds two passwords after the rotation (policy {function.policy}): "
        "the old password was never dropped",
        f"memorydb-rotation repair {name}",
        PROBLEM,
    )


def _grace_over(inspection: Inspection, now: datetime) -> bool:
    """Past OLD_PASSWORD_GRACE_SECONDS (as the function reads it, default included) since the last
    rotation, plus the minute EventBridge Scheduler may fire late. Unknown counts as not over."""
    from rotation.errors import RotationError
    from rotation.settings import Settings

    function, last = inspection.function, inspection.secret.last_rotated
    if function is None or last is None:
        return False
    try:
        settings = Settings.from_env(function.environment)
    except RotationError:
        return False
    grace = getattr(settings, "old_password_grace_seconds", None)
    if grace is None:
        return False
    return (now - last).total_seconds() > float(grace) + 60


def _where(topology: Topology | None) -> str:
    if topology is None:
        return "no known cluster"
    clusters = len(topology.clusters)
    return f"{clusters} cluster{'s' * (clusters != 1)}, {len(topology.nodes)} node(s)"


def _proof_problems(proof: Proof) -> str:
    parts = [f"{node.name} refused" for node in proof.rejected]
    parts += [f"{name} unreachable ({why})" for name, why in proof.unreachable.items()]
    return "; ".join(parts) or "no node answered"


def document(
    inspection: Inspection, probes: list[Probe] | None, verdict: Verdict
) -> dict[str, Any]:
    """The `status --json` document (memorydb_rotation_cli/schemas/status.schema.json)."""
    user = inspection.user
    topology = inspection.topology
    return {
        "command": "status",
        "secret": inspection.secret.to_json(),
        "versions": [v.to_json() for v in inspection.secret.versions],
        "pending": _pending(inspection),
        "user": None
        if user is None
        else {
            "name": user.name,
            "status": user.status,
            "password_count": user.password_count,
            "acls": list(user.acl_names),
        },
        "clusters": []
        if topology is None
        else [
            {
                "name": cluster.name,
                "acl": cluster.acl,
                "endpoint": f"{cluster.endpoint.host}:{cluster.endpoint.port}",
                "tls": cluster.tls,
                "nodes": [
                    {"name": node.name, "endpoint": f"{node.endpoint.host}:{node.endpoint.port}"}
                    for node in cluster.nodes
                ],
            }
            for cluster in topology.clusters
        ],
        "probe": None if probes is None else [p.to_json() for p in probes],
        "scheduled_drop": inspection.scheduled_drop,
        "last_step": None if inspection.last_step is None else inspection.last_step.to_json(),
        "function": None
        if inspection.function is None
        else {
            "arn": inspection.function.arn,
            "old_password_policy": inspection.function.policy,
        },
        "cannot_check": [u.to_json() for u in inspection.unknown],
        "verdict": verdict.to_json(),
        "exit_code": verdict.exit_code,
    }


def _pending(inspection: Inspection) -> dict[str, Any] | None:
    version = inspection.secret.stale_candidate
    if version is None:
        return None
    return {
        "version": version.id,
        "since": iso(version.created),
        "has_value": version.credentials is not None,
        "stages": [s for s in version.stages if s != AWSPENDING] or [],
    }


def run(
    inspector: Inspector,
    secret_id: str,
    *,
    probe_with: Any | None = None,
    timeout: float = 10.0,
    stale_after: float = STALE_AFTER_SECONDS,
    modifying_after: float = MODIFYING_AFTER_SECONDS,
    read_function: bool = True,
) -> dict[str, Any]:
    inspection = inspector.inspect(secret_id, function=read_function)
    probes = probe(inspection, probe_with, timeout=timeout) if probe_with is not None else None
    verdict = judge(
        inspection,
        probes or [],
        now=inspector.now(),
        stale_after=stale_after,
        modifying_after=modifying_after,
    )
    return document(inspection, probes, verdict)
