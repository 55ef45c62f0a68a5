"""Settings, read once from the environment at cold start.

Each field's alias is the environment variable that sets it, so a validation error names the
variable an operator has to fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rotation.errors import SettingsError, describe_validation_error

# The default grace covers AWS's Python caching client (aws-secretsmanager-caching): it refreshes
# a cached secret at most 3,600 s after it last read it (jittered between half and all of
# `secret_refresh_interval`), and a refresh that fails backs off 1, 2, 4 ... s, so nine failures
# in a row add 511 s. 3,600 s + 600 s of margin = 4,200 s (70 minutes). The Lambda secrets
# extension (300 s) is well inside. The drop then still waits for MemoryDB's propagation, and
# EventBridge Scheduler fires up to a minute late: both only lengthen the grace.
DEFAULT_GRACE_SECONDS = 4200
# A week: past that, `keep` (the next rotation replaces the old password) is the honest choice.
MAX_GRACE_SECONDS = 7 * 24 * 3600
_ROLE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
# EventBridge Scheduler group names: 1-64 of letters, digits, '-', '_' and '.'.
_GROUP_NAME = r"^[0-9A-Za-z_.-]{1,64}$"
# MemoryDB tag keys and values (AWS::MemoryDB::User Tag: key 1-128, value 0-256, of letters,
# digits, spaces and _ . / = + : - @; a key never starts with `aws:`). The key is read up to the
# first '=', so a fleet key may not contain one.
_TAG_KEY = re.compile(r"[A-Za-z0-9 _./+:@-]{1,128}")
_TAG_VALUE = re.compile(r"[A-Za-z0-9 _./=+:@-]{0,256}")
# The tags this function writes itself (rotation.adapters.memorydb.OWNER_TAG and the claim
# tags): a fleet tag under this prefix would be one the function could give a user on its own.
OWN_TAG_PREFIX = "memorydb-rotation:"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    allowed_users: frozenset[str] | None = Field(default=None, alias="ROTATION_ALLOWED_USERS")
    """When set, only these users are rotated; any other is refused before any write."""

    user_tag: tuple[str, str] | None = Field(default=None, alias="ROTATION_USER_TAG")
    """`key=value`: when set, only users carrying this tag are rotated (fleet mode); any other is
    refused before any write. With ROTATION_ALLOWED_USERS too, a user must pass both."""

    old_password_policy: Literal["drop", "keep", "drop-after"] = Field(
        default="drop", alias="OLD_PASSWORD_POLICY"
    )
    """`drop` removes the old password in finishSecret; `keep` leaves it until the next rotation;
    `drop-after` keeps it for OLD_PASSWORD_GRACE_SECONDS, then a one-time schedule drops it."""

    old_password_grace_seconds: int = Field(
        default=DEFAULT_GRACE_SECONDS,
        ge=1,
        le=MAX_GRACE_SECONDS,
        alias="OLD_PASSWORD_GRACE_SECONDS",
    )
    schedule_group_name: str | None = Field(
        default=None, pattern=_GROUP_NAME, alias="SCHEDULE_GROUP_NAME"
    )
    scheduler_role_arn: str | None = Field(
        default=None, pattern=_ROLE_ARN, alias="SCHEDULER_ROLE_ARN"
    )
    """The role EventBridge Scheduler assumes to invoke this function when the grace is over."""

    password_length: int = Field(default=32, ge=16, le=128, alias="PASSWORD_LENGTH")

    wait_timeout_seconds: float = Field(default=600.0, gt=0, le=840, alias="WAIT_TIMEOUT_SECONDS")
    """The most one step waits for the user to turn active (also bounded by the Lambda's time)."""

    wait_initial_interval_seconds: float = Field(
        default=0.5, gt=0, le=60, alias="WAIT_INITIAL_INTERVAL_SECONDS"
    )
    wait_max_interval_seconds: float = Field(
        default=5.0, gt=0, le=120, alias="WAIT_MAX_INTERVAL_SECONDS"
    )
    connect_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, alias="CONNECT_TIMEOUT_SECONDS"
    )
    """Data plane: each node's TLS connect and AUTH reply (the AWS APIs have their own, fixed
    timeouts in rotation.adapters.aws)."""

    ca_bundle_path: Path | None = Field(default=None, alias="CA_BUNDLE_PATH")
    """PEM bundle that verifies the cluster's certificate; the system store when unset."""

    tracing_enabled: bool = Field(default=False, alias="TRACING_ENABLED")
    """X-Ray tracing is opt-in: building Powertools' Tracer imports the X-Ray SDK at cold start."""

    @field_validator("allowed_users", mode="before")
    @classmethod
    def _split_users(cls, value: object) -> object:
        if isinstance(value, str):
            names = frozenset(part.strip() for part in value.split(",") if part.strip())
            if not names:
                # Read as "unset", a blank or comma-only value would allow every user.
                raise ValueError("names no user; leave the variable unset to allow every user")
            return names
        return value

    @field_validator("allowed_users")
    @classmethod
    def _no_default_user(cls, value: frozenset[str] | None) -> frozenset[str] | None:
        if value and "default" in value:
            raise ValueError("the 'default' user is never rotated and cannot be allowed")
        return value

    @field_validator("user_tag", mode="before")
    @classmethod
    def _split_tag(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        key, equals, tag_value = value.partition("=")
        if not equals:
            raise ValueError("must be key=value (the tag a user must carry to be rotated)")
        if not _TAG_KEY.fullmatch(key) or key.startswith("aws:"):
            raise ValueError(
                "the key must be 1-128 of letters, digits, spaces and _ . / + : - @, not "
                "starting with 'aws:'"
            )
        if key.startswith(OWN_TAG_PREFIX):
            raise ValueError(
                f"the key may not start with '{OWN_TAG_PREFIX}': this function writes those "
                "tags itself, so they cannot say which users it may rotate"
            )
        if not _TAG_VALUE.fullmatch(tag_value):
            raise ValueError(
                "the value must be 0-256 of letters, digits, spaces and _ . / = + : - @"
            )
        return (key, tag_value)

    @field_validator("schedule_group_name", "scheduler_role_arn", "ca_bundle_path", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # CloudFormation cannot leave a variable out conditionally without Fn::If on each one;
        # an empty value is how the template says "not set".
        return None if value == "" else value

    @field_validator("ca_bundle_path")
    @classmethod
    def _bundle_holds_certificates(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if not value.is_file():
            raise ValueError("no such file")
        import ssl

        # Loaded once here so a bundle that verifies nothing fails at cold start with the
        # variable's name, not as an SSLError at the first connection.
        try:
            ssl.create_default_context(cafile=str(value))
        except (ssl.SSLError, OSError, ValueError):
            loaded = False
        else:
            loaded = True
        if not loaded:
            raise ValueError("not a PEM bundle of CA certificates")
        return value

    @model_validator(mode="after")
    def _intervals_ordered(self) -> Settings:
        if self.wait_initial_interval_seconds > self.wait_max_interval_seconds:
            raise ValueError(
                "WAIT_INITIAL_INTERVAL_SECONDS must not exceed WAIT_MAX_INTERVAL_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _drop_after_has_a_schedule_target(self) -> Settings:
        if self.old_password_policy == "drop-after":  # noqa: S105 - a policy, not a password
            missing = [
                name
                for name, value in (
                    ("SCHEDULE_GROUP_NAME", self.schedule_group_name),
                    ("SCHEDULER_ROLE_ARN", self.scheduler_role_arn),
                )
                if value is None
            ]
            if missing:
                raise ValueError("OLD_PASSWORD_POLICY=drop-after needs " + " and ".join(missing))
        return self

    @property
    def schedule_target(self) -> tuple[str, str] | None:
        """(SCHEDULE_GROUP_NAME, SCHEDULER_ROLE_ARN) under drop-after, None under the others
        (validation makes sure both are set under drop-after)."""
        group, role = self.schedule_group_name, self.scheduler_role_arn
        if self.old_password_policy != "drop-after" or group is None or role is None:  # noqa: S105
            return None
        return group, role

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if environ is None else environ
        values = {name: source[name] for name in ENV_VARS if name in source}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            message = describe_validation_error(exc, "invalid settings", reasons=True)
        raise SettingsError(message)


# The environment variables the function reads: each field's alias. The template test checks the
# SAM template sets exactly these (plus the POWERTOOLS_* ones Powertools reads itself).
ENV_VARS: tuple[str, ...] = tuple(
    str(field.alias) for field in Settings.model_fields.values() if field.alias is not None
)
