"""Settings, read once from the environment at cold start.

Each field's alias is the environment variable that sets it, so a validation error names the
variable an operator has to fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rotation.errors import SettingsError, describe_validation_error

# The environment variables the function reads; the template test checks the SAM template sets
# exactly these (plus the POWERTOOLS_* ones Powertools reads itself).
ENV_VARS: tuple[str, ...] = (
    "ROTATION_ALLOWED_USERS",
    "OLD_PASSWORD_POLICY",
    "PASSWORD_LENGTH",
    "WAIT_TIMEOUT_SECONDS",
    "WAIT_INITIAL_INTERVAL_SECONDS",
    "WAIT_MAX_INTERVAL_SECONDS",
    "CONNECT_TIMEOUT_SECONDS",
    "CA_BUNDLE_PATH",
    "TRACING_ENABLED",
)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    allowed_users: frozenset[str] | None = Field(default=None, alias="ROTATION_ALLOWED_USERS")
    """When set, only these users are rotated; any other is refused before any write."""

    old_password_policy: Literal["drop", "keep"] = Field(
        default="drop", alias="OLD_PASSWORD_POLICY"
    )
    """`drop` removes the old password in finishSecret; `keep` leaves it until the next rotation."""

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

    @field_validator("ca_bundle_path", mode="before")
    @classmethod
    def _empty_path_is_unset(cls, value: object) -> object:
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
            raise ValueError("not a PEM bundle of CA certificates") from None
        return value

    @model_validator(mode="after")
    def _intervals_ordered(self) -> Settings:
        if self.wait_initial_interval_seconds > self.wait_max_interval_seconds:
            raise ValueError(
                "WAIT_INITIAL_INTERVAL_SECONDS must not exceed WAIT_MAX_INTERVAL_SECONDS"
            )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if environ is None else environ
        values = {name: source[name] for name in ENV_VARS if name in source}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(
                describe_validation_error(exc, "invalid settings", reasons=True)
            ) from None
