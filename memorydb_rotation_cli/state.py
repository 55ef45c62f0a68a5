"""What the CLI reads from AWS about one secret, its user, the user's clusters and the function.

Reads only. Every password read stays a SecretStr here; outputs carry fingerprints. A read that
is denied or fails becomes a "cannot check" note with the call and the reason, never a pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from memorydb_rotation_cli.aws import (
    DENIED_CODES,
    Aws,
    CliError,
    aws_errors,
    describe_failure,
    fingerprint,
)
from rotation.adapters.memorydb import MemoryDBDirectory
from rotation.adapters.secrets_manager import SecretsManagerStore
from rotation.errors import AwsCallError, RotationError, SecretValueNotFoundError
from rotation.models import (
    AWSCURRENT,
    AWSPENDING,
    AWSPREVIOUS,
    DROP_ACTION,
    Credentials,
    MemoryDBUser,
    Step,
    Topology,
)

STAGES = (AWSCURRENT, AWSPENDING, AWSPREVIOUS)
# What a step line's `step` can be: the four rotation steps, the scheduled drop, and UNKNOWN_STEP
# for a line that names none (the function always names one).
UNKNOWN_STEP = "?"
STEP_NAMES = (*(step.value for step in Step), DROP_ACTION, UNKNOWN_STEP)
# FilterLogEvents pages read for one token: a rotation logs a few lines per step and attempt.
MAX_LOG_PAGES = 20

Now = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Unknown:
    """Something the CLI could not look at, and why (a call and its failure)."""

    what: str
    why: str
    missing: bool = False
    """The thing looked for does not exist (ResourceNotFound), as opposed to a refused read."""

    def to_json(self) -> dict[str, str]:
        return {"what": self.what, "why": self.why}


@dataclass
class Version:
    id: str
    stages: tuple[str, ...]
    created: datetime | None
    credentials: Credentials | None = None
    problem: str | None = None
    """Why the value could not be read or parsed (a field name or an error code, never a value)."""

    @property
    def fingerprint(self) -> str | None:
        if self.credentials is None:
            return None
        return fingerprint(self.credentials.password.get_secret_value())

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "stages": list(self.stages),
            "created": iso(self.created),
            "fingerprint": self.fingerprint,
            "problem": self.problem,
        }


@dataclass
class Secret:
    arn: str
    name: str
    rotation_enabled: bool
    function_arn: str | None
    schedule: dict[str, Any]
    last_rotated: datetime | None
    next_rotation: datetime | None
    kms_key_id: str | None
    versions: list[Version]

    def holder(self, stage: str) -> Version | None:
        for version in self.versions:
            if stage in version.stages:
                return version
        return None

    @property
    def current(self) -> Credentials | None:
        version = self.holder(AWSCURRENT)
        return version.credentials if version else None

    @property
    def stale_candidate(self) -> Version | None:
        """AWSPENDING on a version that is not AWSCURRENT: a rotation running or one that failed."""
        pending = self.holder(AWSPENDING)
        if pending is None or AWSCURRENT in pending.stages:
            return None
        return pending

    def to_json(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "name": self.name,
            "rotation_enabled": self.rotation_enabled,
            "function_arn": self.function_arn,
            "schedule": self.schedule,
            "last_rotated": iso(self.last_rotated),
            "next_rotation": iso(self.next_rotation),
        }


@dataclass
class Function:
    arn: str
    name: str
    timeout: int
    environment: dict[str, str]
    role: str | None
    vpc: dict[str, Any]
    log_group: str

    @property
    def policy(self) -> str:
        return self.environment.get("OLD_PASSWORD_POLICY", "drop")


@dataclass
class Inspection:
    """Everything read about one secret; fields are None where the read was not possible."""

    secret: Secret
    user: MemoryDBUser | None = None
    user_problem: str | None = None
    topology: Topology | None = None
    topology_problem: str | None = None
    function: Function | None = None
    function_problem: str | None = None
    """Why the function's configuration (and so its OLD_PASSWORD_POLICY) is unknown."""
    scheduled_drop: dict[str, Any] | None = None
    last_step: StepLine | None = None
    """The function's last log line for the pending version's token (None: none found)."""
    unknown: list[Unknown] = field(default_factory=list)

    @property
    def policy(self) -> str | None:
        """OLD_PASSWORD_POLICY as the function runs it; None when it could not be read."""
        return self.function.policy if self.function is not None else None


@dataclass(frozen=True)
class StepLine:
    """One step's end as the function logged it (JSON keys `step`, `message`, `error`,
    `reason`, `outcome`); `outcome` is kept as text, its vocabulary is the function's."""

    step: str
    failed: bool
    error: str | None
    reason: str | None
    outcome: str | None
    at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "failed": self.failed,
            "error": self.error,
            "reason": self.reason,
            "outcome": self.outcome,
            "at": iso(self.at),
        }

    @classmethod
    def parse(cls, message: str, timestamp_ms: int | None, token: str) -> StepLine | None:
        try:
            line = json.loads(message)
        except ValueError:
            return None
        if not isinstance(line, dict) or line.get("token") != token:
            return None
        text = line.get("message")
        if text not in {"step failed", "step succeeded"}:
            return None
        at = datetime.fromtimestamp(timestamp_ms / 1000, UTC) if timestamp_ms else None
        failed = text == "step failed"
        return cls(
            step=str(line.get("step", UNKNOWN_STEP)),
            failed=failed,
            error=str(line.get("error")) if failed and line.get("error") else None,
            reason=str(line.get("reason")) if line.get("reason") else None,
            outcome=str(line.get("outcome")) if line.get("outcome") is not None else None,
            at=at,
        )

    @classmethod
    def parse_any(cls, message: str, timestamp_ms: int | None) -> tuple[str, str, StepLine] | None:
        """(secret_arn, token, the line) for any step line, whatever its token."""
        try:
            line = json.loads(message)
        except ValueError:
            return None
        if not isinstance(line, dict):
            return None
        token, secret_arn = line.get("token"), line.get("secret_arn")
        if not isinstance(token, str) or not isinstance(secret_arn, str):
            return None
        parsed = cls.parse(message, timestamp_ms, token)
        return (secret_arn, token, parsed) if parsed is not None else None


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def function_name(arn: str) -> str:
    """`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` -> NAME; a bare name stays."""
    parts = arn.split(":")
    return parts[6] if len(parts) >= 7 and parts[5] == "function" else arn


class Inspector:
    def __init__(self, aws: Aws, *, now: Now = utcnow) -> None:
        self.aws = aws
        self.now = now
        self.directory = MemoryDBDirectory(boto3_client=aws.client("memorydb"))
        self.store = SecretsManagerStore(boto3_client=aws.client("secretsmanager"))

    # -- the secret ---------------------------------------------------------------------------

    def secret(self, secret_id: str) -> Secret:
        """The secret and each labelled version's document; CliError when it cannot be read."""
        from botocore.exceptions import BotoCoreError, ClientError

        sm = self.aws.client("secretsmanager")
        try:
            described = sm.describe_secret(SecretId=secret_id)
            listed = sm.list_secret_version_ids(SecretId=secret_id, IncludeDeprecated=False)
        except ClientError as exc:
            if "ResourceNotFound" in str(exc.response.get("Error", {}).get("Code")):
                raise CliError(f"there is no secret {secret_id} in {self.aws.where()}") from None
            raise CliError(describe_failure(exc, "DescribeSecret")) from None
        except BotoCoreError as exc:
            raise CliError(describe_failure(exc, "DescribeSecret")) from None
        created = {v["VersionId"]: v.get("CreatedDate") for v in listed.get("Versions", [])}
        versions = [
            Version(version_id, tuple(stages), created.get(version_id))
            for version_id, stages in described.get("VersionIdsToStages", {}).items()
            if stages
        ]
        for version in versions:
            self._read_value(secret_id, version)
        rules = described.get("RotationRules", {})
        schedule = {
            "expression": rules.get("ScheduleExpression"),
            "automatically_after_days": rules.get("AutomaticallyAfterDays"),
            "window": rules.get("Duration"),
        }
        return Secret(
            arn=described["ARN"],
            name=described.get("Name", ""),
            rotation_enabled=bool(described.get("RotationEnabled", False)),
            function_arn=described.get("RotationLambdaARN") or None,
            schedule=schedule,
            last_rotated=described.get("LastRotatedDate"),
            next_rotation=described.get("NextRotationDate"),
            kms_key_id=described.get("KmsKeyId"),
            versions=sorted(versions, key=_stage_order),
        )

    def _read_value(self, secret_id: str, version: Version) -> None:
        stage = next(s for s in STAGES + version.stages if s in version.stages)
        try:
            value = self.store.get_value(secret_id, stage=stage, version_id=version.id)
        except SecretValueNotFoundError:
            version.problem = "no value yet"
            return
        except AwsCallError as exc:
            version.problem = _access(str(exc))
            return
        except RotationError as exc:
            version.problem = str(exc)
            return
        try:
            version.credentials = Credentials.parse(value)
        except RotationError as exc:
            version.problem = str(exc)

    # -- the user and where it lives ----------------------------------------------------------

    def user(self, inspection: Inspection) -> None:
        current = inspection.secret.current
        if current is None:
            return
        try:
            inspection.user = self.directory.describe(current.username)
        except AwsCallError as exc:
            inspection.user_problem = str(exc)
            inspection.unknown.append(Unknown("the user", str(exc)))
            return
        except RotationError as exc:
            inspection.user_problem = str(exc)
            return
        try:
            inspection.topology = self.directory.topology(inspection.user)
        except AwsCallError as exc:
            inspection.topology_problem = str(exc)
            inspection.unknown.append(Unknown("the user's clusters and nodes", str(exc)))
        except RotationError as exc:
            inspection.topology_problem = str(exc)

    # -- the function -------------------------------------------------------------------------

    def function(self, arn: str, unknown: list[Unknown]) -> Function | None:

        try:
            config = self.aws.client("lambda").get_function_configuration(FunctionName=arn)
        except aws_errors() as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            unknown.append(
                Unknown(
                    "the rotation function",
                    describe_failure(exc, "GetFunctionConfiguration"),
                    missing=code == "ResourceNotFoundException",
                )
            )
            return None
        name = config.get("FunctionName", function_name(arn))
        logging_config = config.get("LoggingConfig") or {}
        return Function(
            arn=config.get("FunctionArn", arn),
            name=name,
            timeout=int(config.get("Timeout", 3)),
            environment=dict((config.get("Environment") or {}).get("Variables") or {}),
            role=config.get("Role"),
            vpc=dict(config.get("VpcConfig") or {}),
            log_group=logging_config.get("LogGroup") or f"/aws/lambda/{name}",
        )

    def scheduled_drop(
        self, function_arn: str, secret_arn: str, unknown: list[Unknown]
    ) -> dict[str, Any] | None:
        """A one-time schedule that targets the function with this secret in its input.

        Found by target and input rather than by name, so it does not depend on how the function
        names its schedules.
        """

        scheduler = self.aws.client("scheduler")
        try:
            pages = scheduler.get_paginator("list_schedules").paginate()
            summaries = [s for page in pages for s in page.get("Schedules", [])]
            for summary in summaries:
                target = (summary.get("Target") or {}).get("Arn", "")
                if function_name(target) != function_name(function_arn):
                    continue
                schedule = scheduler.get_schedule(
                    Name=summary["Name"], GroupName=summary.get("GroupName", "default")
                )
                if secret_arn not in json.dumps(_input(schedule)):
                    continue
                expression = schedule.get("ScheduleExpression")
                return {
                    "name": schedule.get("Name"),
                    "group": schedule.get("GroupName"),
                    "expression": expression,
                    "at": iso(at_time(expression, schedule.get("ScheduleExpressionTimezone"))),
                    "state": schedule.get("State"),
                }
        except aws_errors() as exc:
            unknown.append(
                Unknown("a scheduled password drop", describe_failure(exc, "ListSchedules"))
            )
        return None

    def last_step(self, log_group: str, token: str, unknown: list[Unknown]) -> StepLine | None:
        """The function's latest step line for `token` in its log group (FilterLogEvents with
        the token as a quoted term, every page; bounded by MAX_LOG_PAGES)."""
        logs = self.aws.client("logs")
        request: dict[str, Any] = {"logGroupName": log_group, "filterPattern": f'"{token}"'}
        latest: StepLine | None = None
        try:
            for _ in range(MAX_LOG_PAGES):
                page = logs.filter_log_events(**request)
                for event in page.get("events", []):
                    line = StepLine.parse(event.get("message", ""), event.get("timestamp"), token)
                    if line is not None:
                        latest = line
                if not page.get("nextToken"):
                    break
                request["nextToken"] = page["nextToken"]
        except aws_errors() as exc:
            unknown.append(
                Unknown("the function's last step", describe_failure(exc, "FilterLogEvents"))
            )
        return latest

    def inspect(self, secret_id: str, *, function: bool = True) -> Inspection:
        inspection = Inspection(self.secret(secret_id))
        self.user(inspection)
        arn = inspection.secret.function_arn
        if function and arn:
            before = len(inspection.unknown)
            inspection.function = self.function(arn, inspection.unknown)
            if inspection.function is None and len(inspection.unknown) > before:
                inspection.function_problem = inspection.unknown[-1].why
            inspection.scheduled_drop = self.scheduled_drop(
                arn, inspection.secret.arn, inspection.unknown
            )
            pending = inspection.secret.stale_candidate
            if pending is not None:
                group = (
                    inspection.function.log_group
                    if inspection.function
                    else f"/aws/lambda/{function_name(arn)}"
                )
                inspection.last_step = self.last_step(group, pending.id, inspection.unknown)
        return inspection


@dataclass
class OtherSecret:
    """Another secret whose AWSCURRENT names the same user, with its labelled versions."""

    arn: str
    name: str
    versions: list[Version]


# Other secrets read to account for a user's passwords (one GetSecretValue each, and one per
# labelled version of those that name the user).
MAX_SECRETS_COMPARED = 200


def other_secrets(inspector: Inspector, inspection: Inspection) -> list[OtherSecret]:
    """Every other secret (up to MAX_SECRETS_COMPARED) whose AWSCURRENT names this user; a
    failed read is noted as unknown, never taken as "no other secret"."""
    current = inspection.secret.current
    if current is None:
        return []
    sm = inspector.aws.client("secretsmanager")
    found: list[OtherSecret] = []
    try:
        pages = sm.get_paginator("list_secrets").paginate()
        listed = [s for page in pages for s in page.get("SecretList", [])]
    except aws_errors() as exc:
        inspection.unknown.append(
            Unknown("other secrets of the user", describe_failure(exc, "ListSecrets"))
        )
        return found
    for entry in listed[:MAX_SECRETS_COMPARED]:
        arn = entry.get("ARN")
        if not arn or arn == inspection.secret.arn:
            continue
        stages = entry.get("SecretVersionsToStages") or {}
        versions = [Version(v, tuple(labels), None) for v, labels in stages.items() if labels]
        holder = next((v for v in versions if AWSCURRENT in v.stages), None)
        if holder is None:
            continue
        inspector._read_value(arn, holder)
        if holder.credentials is None:
            if holder.problem and "access denied" in holder.problem:
                inspection.unknown.append(Unknown(f"secret {entry.get('Name')}", holder.problem))
            continue
        if holder.credentials.username != current.username:
            continue
        for version in versions:
            if version is not holder:
                inspector._read_value(arn, version)
        found.append(OtherSecret(arn, str(entry.get("Name", arn)), versions))
    return found


def at_time(expression: str | None, timezone: str | None = None) -> datetime | None:
    """`at(yyyy-mm-ddThh:mm:ss)` in UTC or the schedule's timezone; None for anything else."""
    if not expression or not expression.startswith("at(") or not expression.endswith(")"):
        return None
    try:
        moment = datetime.fromisoformat(expression[3:-1])
    except ValueError:
        return None
    if moment.tzinfo is None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            zone: Any = ZoneInfo(timezone) if timezone else UTC
        except (ZoneInfoNotFoundError, ValueError):
            return None
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _access(message: str) -> str:
    """The adapters say `GetSecretValue failed: AccessDeniedException`; say it as the CLI does."""
    operation, _, code = message.partition(" failed: ")
    if code in DENIED_CODES:
        return f"{operation}: access denied ({code})"
    return message


def _input(schedule: dict[str, Any]) -> Any:
    raw = (schedule.get("Target") or {}).get("Input") or "{}"
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _stage_order(version: Version) -> tuple[int, str]:
    for rank, stage in enumerate(STAGES):
        if stage in version.stages:
            return rank, version.id
    return len(STAGES), version.id


def password_of(version: Version | None) -> SecretStr | None:
    if version is None or version.credentials is None:
        return None
    return version.credentials.password
