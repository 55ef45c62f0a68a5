"""Typed views of the rotation event, the secret document and the MemoryDB user."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StrictBool,
    ValidationError,
)

from rotation.errors import BadEventError, SecretFormatError

AWSCURRENT = "AWSCURRENT"
AWSPENDING = "AWSPENDING"
AWSPREVIOUS = "AWSPREVIOUS"

# MemoryDB user names: letters, digits and hyphens, starting with a letter (AWS API reference).
_USER_NAME = r"^[A-Za-z][A-Za-z0-9-]{0,39}$"
_USER_ARN = re.compile(r"^arn:aws[a-z-]*:memorydb:[a-z0-9-]+:\d{12}:user/(?P<name>[^/]+)$")
_SECRET_STRING_LIMIT = 65536


class Step(StrEnum):
    CREATE = "createSecret"
    SET = "setSecret"
    TEST = "testSecret"
    FINISH = "finishSecret"


class RotationRequest(BaseModel):
    """The Secrets Manager rotation event. RotationToken is sensitive: kept as a SecretStr."""

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    step: Step = Field(alias="Step")
    secret_id: str = Field(alias="SecretId", min_length=1, max_length=2048)
    token: str = Field(alias="ClientRequestToken", min_length=32, max_length=64)
    rotation_token: SecretStr | None = Field(default=None, alias="RotationToken")

    @classmethod
    def from_event(cls, event: object) -> RotationRequest:
        if not isinstance(event, dict):
            raise BadEventError("the event is not a JSON object")
        try:
            return cls.model_validate(event)
        except ValidationError as exc:
            fields = sorted({str(err["loc"][0]) for err in exc.errors() if err["loc"]})
            raise BadEventError(
                "the event is not a rotation event; bad or missing: " + ", ".join(fields)
            ) from None


class Credentials(BaseModel):
    """The documented SecretString. Keys this service does not model are kept as they are."""

    model_config = ConfigDict(frozen=True, extra="allow", hide_input_in_errors=True)

    username: str = Field(pattern=_USER_NAME)
    password: SecretStr = Field(min_length=1)
    host: str | None = Field(default=None, min_length=1, max_length=255)
    port: int = Field(default=6379, ge=1, le=65535, strict=True)
    ssl: StrictBool = True
    user_arn: str | None = None

    _document: dict[str, Any] = PrivateAttr(default_factory=dict)

    @classmethod
    def parse(cls, secret_string: str) -> Credentials:
        if len(secret_string) > _SECRET_STRING_LIMIT:
            raise SecretFormatError("the secret value is larger than Secrets Manager allows")
        try:
            document = json.loads(secret_string)
        except ValueError:
            raise SecretFormatError("the secret value is not JSON") from None
        if not isinstance(document, dict):
            raise SecretFormatError("the secret value is not a JSON object")
        try:
            creds = cls.model_validate(document)
        except ValidationError as exc:
            raise SecretFormatError(_field_problems(exc)) from None
        if creds.user_arn is not None:
            match = _USER_ARN.match(creds.user_arn)
            if match is None:
                raise SecretFormatError("'user_arn' is not a MemoryDB user ARN")
            if match.group("name") != creds.username:
                raise SecretFormatError("'user_arn' names a different user than 'username'")
        creds._document = document
        return creds

    def with_password(self, password: SecretStr) -> str:
        """The SecretString of a new version: this one with only the password replaced."""
        document = dict(self._document)
        document["password"] = password.get_secret_value()
        return json.dumps(document)

    @property
    def endpoint(self) -> Endpoint | None:
        if self.host is None:
            return None
        return Endpoint(host=self.host, port=self.port, tls=self.ssl)

    def same_user(self, other: Credentials) -> bool:
        return (self.username, self.user_arn, self.endpoint) == (
            other.username,
            other.user_arn,
            other.endpoint,
        )


def _field_problems(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "value"
        kind = "missing" if error["type"] == "missing" else "invalid"
        problems.append(f"'{name}' is {kind}")
    return "the secret value is not a MemoryDB credential: " + ", ".join(problems)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool


@dataclass(frozen=True)
class SecretMetadata:
    arn: str
    rotation_enabled: bool
    versions: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def version_with(self, stage: str) -> str | None:
        for version, stages in self.versions.items():
            if stage in stages:
                return version
        return None


@dataclass(frozen=True)
class MemoryDBUser:
    name: str
    arn: str
    status: str
    auth_type: str
    password_count: int

    @property
    def active(self) -> bool:
        return self.status == "active"
