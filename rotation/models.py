"""Typed views of the rotation event, the secret document, the MemoryDB user and where it lives."""

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
    field_validator,
)

from rotation.errors import BadEventError, SecretFormatError, describe_validation_error

AWSCURRENT = "AWSCURRENT"
AWSPENDING = "AWSPENDING"
AWSPREVIOUS = "AWSPREVIOUS"

# MemoryDB user names: letters, digits and hyphens, starting with a letter (AWS API reference).
_USER_NAME = r"^[A-Za-z][A-Za-z0-9-]{0,39}$"
_USER_ARN = re.compile(r"^arn:aws[a-z-]*:memorydb:[a-z0-9-]+:\d{12}:user/(?P<name>[^/]+)$")
# A DNS name as MemoryDB endpoints are (RFC 1123 labels), or an IP literal; nothing else is ever
# resolved or contacted, so a URL, a user:password@ prefix or an embedded NUL is refused outright.
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# Secrets Manager's limit on a SecretString, in bytes (UTF-8), not characters.
SECRET_STRING_LIMIT = 65536
# Key names are echoed in messages only when they look like identifiers; anything else is
# "a key": a key name is input too.
_PRINTABLE_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class Step(StrEnum):
    CREATE = "createSecret"
    SET = "setSecret"
    TEST = "testSecret"
    FINISH = "finishSecret"


class Outcome(StrEnum):
    """What a step did: the closed set logged as `outcome` and returned to callers."""

    NOTHING_TO_DO = "nothing_to_do"
    CREATED = "created"
    KEPT_EXISTING = "kept_existing"
    SET = "set"
    ALREADY_SET = "already_set"
    PROVEN = "proven"
    PROMOTED_DROPPED_OLD = "promoted_dropped_old"
    PROMOTED_KEPT_OLD = "promoted_kept_old"
    COMPLETED_DROP = "completed_drop"
    ALREADY_CURRENT = "already_current"


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
            raise BadEventError(
                describe_validation_error(exc, "the event is not a rotation event")
            ) from None


def key_name(key: str) -> str:
    return f"'{key}'" if _PRINTABLE_KEY.match(key) else "a key"


def _refuse_constant(name: str) -> Any:
    raise SecretFormatError(f"the secret value holds {name}, which is not JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        # Two parsers may pick different copies of a repeated key: a consumer could read another
        # password than the one this service proved.
        raise SecretFormatError("the secret value repeats a key")
    return document


class Credentials(BaseModel):
    """The documented SecretString. Keys this service does not model are kept byte for byte."""

    model_config = ConfigDict(frozen=True, extra="allow", hide_input_in_errors=True)

    username: str = Field(pattern=_USER_NAME)
    password: SecretStr = Field(min_length=1)
    host: str | None = Field(default=None, min_length=1, max_length=253)
    port: int = Field(default=6379, ge=1, le=65535, strict=True)
    ssl: StrictBool = True
    user_arn: str | None = None

    _text: str = PrivateAttr(default="")
    _password_span: tuple[int, int] = PrivateAttr(default=(0, 0))
    _document: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("host")
    @classmethod
    def _host_is_a_name_or_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import ipaddress

        try:
            ipaddress.ip_address(value)
        except ValueError:
            labels = value.removesuffix(".").split(".")
            if not all(_DNS_LABEL.match(label) for label in labels):
                raise ValueError("not a DNS name or IP address") from None
            return value.removesuffix(".").lower()
        return value

    @classmethod
    def parse(cls, secret_string: str) -> Credentials:
        if len(secret_string.encode("utf-8", "surrogatepass")) > SECRET_STRING_LIMIT:
            raise SecretFormatError("the secret value is larger than Secrets Manager allows")
        try:
            document = json.loads(
                secret_string,
                parse_constant=_refuse_constant,
                object_pairs_hook=_no_duplicate_keys,
            )
        except RecursionError:
            raise SecretFormatError("the secret value is nested too deeply") from None
        except ValueError:
            raise SecretFormatError("the secret value is not JSON") from None
        if not isinstance(document, dict):
            raise SecretFormatError("the secret value is not a JSON object")
        try:
            creds = cls.model_validate(document)
        except ValidationError as exc:
            raise SecretFormatError(
                describe_validation_error(exc, "the secret value is not a MemoryDB credential")
            ) from None
        if creds.user_arn is not None:
            match = _USER_ARN.match(creds.user_arn)
            if match is None:
                raise SecretFormatError("'user_arn' is not a MemoryDB user ARN")
            if match.group("name") != creds.username:
                raise SecretFormatError("'user_arn' names a different user than 'username'")
        creds._text = secret_string
        creds._password_span = _value_span(secret_string, "password")
        creds._document = document
        return creds

    def with_password(self, password: SecretStr) -> str:
        """The SecretString of a new version: this one's text with only the password replaced.

        Splicing the text instead of re-serialising keeps every other key exactly as written:
        numbers beyond float precision, non-ASCII text and key order survive, and the new version
        is no larger than the old one plus the difference in password length.
        """
        start, end = self._password_span
        value = self._text[:start] + json.dumps(password.get_secret_value()) + self._text[end:]
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > SECRET_STRING_LIMIT:
            raise SecretFormatError(
                f"the new version would be {size} bytes, over Secrets Manager's "
                f"{SECRET_STRING_LIMIT}-byte limit"
            )
        return value

    def differing_keys(self, other: Credentials) -> list[str]:
        """Keys (other than the password) whose values differ between the two documents."""
        keys = (set(self._document) | set(other._document)) - {"password"}
        return sorted(
            key_name(key)
            for key in keys
            if self._document.get(key, _MISSING) != other._document.get(key, _MISSING)
        )


_MISSING = object()


def _value_span(text: str, wanted: str) -> tuple[int, int]:
    """Where the top-level key `wanted`'s value sits in `text` (already validated as JSON)."""
    decoder = json.JSONDecoder()
    whitespace = re.compile(r"[ \t\n\r]*")

    def skip(index: int) -> int:
        match = whitespace.match(text, index)
        return match.end() if match else index

    index = skip(0) + 1  # past "{"
    while True:
        index = skip(index)
        key, index = json.decoder.scanstring(text, index + 1)  # type: ignore[attr-defined]
        index = skip(skip(index) + 1)  # past ":"
        _, end = decoder.raw_decode(text, index)
        if key == wanted:
            return index, end
        index = skip(end) + 1  # past ","


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool = True

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Node:
    name: str
    cluster: str
    endpoint: Endpoint

    def __str__(self) -> str:
        return f"{self.cluster}/{self.name}"


@dataclass(frozen=True)
class Cluster:
    name: str
    acl: str
    endpoint: Endpoint
    tls: bool
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Topology:
    """Where MemoryDB says the user lives: the clusters of every ACL that holds it."""

    user: str
    acls: tuple[str, ...]
    clusters: tuple[Cluster, ...]

    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(node for cluster in self.clusters for node in cluster.nodes)

    def cluster_serving(self, host: str, port: int) -> Cluster | None:
        """The cluster whose configuration endpoint or one of whose nodes is host:port."""
        wanted = (host.removesuffix(".").lower(), port)
        for cluster in self.clusters:
            endpoints = (cluster.endpoint, *(node.endpoint for node in cluster.nodes))
            if any((e.host.removesuffix(".").lower(), e.port) == wanted for e in endpoints):
                return cluster
        return None

    def describe(self) -> str:
        return ", ".join(f"{c.name} ({len(c.nodes)} nodes)" for c in self.clusters)


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
    acl_names: tuple[str, ...] = ()
    access_string: str = ""

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def disabled(self) -> bool:
        """`off` in the access string: the user cannot authenticate with any password."""
        switches = [word for word in self.access_string.split() if word in ("on", "off")]
        return bool(switches) and switches[-1] == "off"
