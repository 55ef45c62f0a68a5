"""Typed views of the rotation event, the secret document, the MemoryDB user and where it lives."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypeVar

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
    """What one invocation did with the secret and the user: one closed set for the four steps
    and the scheduled drop, logged as `outcome`. What happened to the old password is a second,
    independent value (OldPassword), so the two never multiply into a cross-product."""

    NOTHING_TO_DO = "nothing_to_do"
    """A step other than finishSecret retried after AWSCURRENT moved to its token."""
    CREATED = "created"
    KEPT_EXISTING = "kept_existing"
    """createSecret retried: the pending version already holds a value, which stays."""
    SET = "set"
    ALREADY_SET = "already_set"
    PROVEN = "proven"
    PROMOTED = "promoted"
    ALREADY_CURRENT = "already_current"
    """finishSecret retried after the label moved: only the old password's fate was left."""
    GRACE_OVER = "grace_over"
    """The scheduled drop of OLD_PASSWORD_POLICY=drop-after ran (see `old_password`)."""


class OldPassword(StrEnum):
    """What finishSecret or the scheduled drop did with the password AWSCURRENT replaced."""

    DROPPED = "dropped"
    KEPT = "kept"
    """Still accepted; `kept_because` says why."""
    DROP_SCHEDULED = "drop_scheduled"
    DROP_ALREADY_SCHEDULED = "drop_already_scheduled"
    ALREADY_DROPPED = "already_dropped"
    """The user holds one password: nothing was left to drop."""


class KeptBecause(StrEnum):
    """Why the old password stays: the reasons a drop is declined instead of attempted."""

    POLICY_KEEP = "policy_keep"
    """OLD_PASSWORD_POLICY=keep (also for a drop scheduled before the policy was switched)."""
    ROTATION_DISABLED = "rotation_disabled"
    SUPERSEDED = "superseded"
    """A later rotation moved AWSCURRENT to a password other than the one this drop keeps."""
    ROTATION_IN_PROGRESS = "rotation_in_progress"
    """Another version is AWSPENDING: its rotation owns the password set now."""
    USER_REFUSED = "user_refused"
    CURRENT_NOT_PROVEN = "current_not_proven"
    """AWSCURRENT's password is refused on some node: the user changed outside rotation."""


@dataclass(frozen=True)
class Invocation:
    """What one Lambda invocation knows beyond its event: how long it may wait and which
    function it is (a drop-after schedule invokes this same function)."""

    time_left_seconds: float
    function_arn: str


class RotationRequest(BaseModel):
    """The Secrets Manager rotation event. RotationToken is sensitive: kept as a SecretStr."""

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    step: Step = Field(alias="Step")
    secret_id: str = Field(alias="SecretId", min_length=1, max_length=2048)
    token: str = Field(alias="ClientRequestToken", min_length=32, max_length=64)
    rotation_token: SecretStr | None = Field(default=None, alias="RotationToken")

    @classmethod
    def from_event(cls, event: object) -> RotationRequest:
        return _parse_event(cls, event, "the event is not a rotation event")


DROP_ACTION = "dropOldPassword"
# A full secret ARN (the scheduled event always carries one), as the template's SecretArns.
_SM_ARN = r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$"


def is_drop_event(event: object) -> bool:
    """The one key a rotation event never has: the handler routes on it, then parses strictly."""
    return isinstance(event, dict) and "Action" in event and "Step" not in event


class DropOldPasswordEvent(BaseModel):
    """`{"Action": "dropOldPassword", "SecretId": <secret ARN>, "ClientRequestToken": <version>}`:
    the Input of the one-time schedule a drop-after finishSecret creates.

    No other key is accepted: the event is the schedule's fixed Input, nothing else writes it. It
    is input like any other all the same: a forged or replayed one can at worst drop the old
    password early (what invoking it by hand is for), never AWSCURRENT's.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    action: Literal["dropOldPassword"] = Field(alias="Action")
    secret_id: str = Field(alias="SecretId", pattern=_SM_ARN)
    token: str = Field(
        alias="ClientRequestToken", min_length=32, max_length=64, pattern=r"^[A-Za-z0-9-]+$"
    )

    @classmethod
    def from_event(cls, event: object) -> DropOldPasswordEvent:
        return _parse_event(cls, event, "the event is not a dropOldPassword event")

    @classmethod
    def for_rotation(cls, secret_arn: str, token: str) -> DropOldPasswordEvent:
        return cls.model_validate(
            {"Action": DROP_ACTION, "SecretId": secret_arn, "ClientRequestToken": token}
        )

    def as_input(self) -> dict[str, str]:
        return self.model_dump(by_alias=True)


EventT = TypeVar("EventT", bound=BaseModel)


def _parse_event(model: type[EventT], event: object, summary: str) -> EventT:
    """BadEventError naming the fields, never their values."""
    if not isinstance(event, dict):
        raise BadEventError("the event is not a JSON object")
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        # Raised outside the `except`: the ValidationError holds the event, RotationToken too.
        message = describe_validation_error(exc, summary)
    raise BadEventError(message)


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
            is_address = False
        else:
            is_address = True
        if is_address:
            return value
        # Checked outside the `except`: ipaddress's error quotes the value.
        labels = value.removesuffix(".").split(".")
        if not all(_DNS_LABEL.match(label) for label in labels):
            raise ValueError("not a DNS name or IP address")
        return value.removesuffix(".").lower()

    @classmethod
    def parse(cls, secret_string: str) -> Credentials:
        """Every refusal is raised outside the `except` that caught it: json's and pydantic's
        errors hold the document (JSONDecodeError.doc is the whole SecretString), and an
        exception raised inside an `except` keeps the caught one as its __context__."""
        if len(secret_string.encode("utf-8", "surrogatepass")) > SECRET_STRING_LIMIT:
            raise SecretFormatError("the secret value is larger than Secrets Manager allows")
        problem: str | None = None
        try:
            document = json.loads(
                secret_string,
                parse_constant=_refuse_constant,
                object_pairs_hook=_no_duplicate_keys,
            )
        except RecursionError:
            problem = "the secret value is nested too deeply"
        except ValueError:
            problem = "the secret value is not JSON"
        if problem is not None:
            raise SecretFormatError(problem)
        if not isinstance(document, dict):
            raise SecretFormatError("the secret value is not a JSON object")
        try:
            creds = cls.model_validate(document)
        except ValidationError as exc:
            problem = describe_validation_error(
                exc, "the secret value is not a MemoryDB credential"
            )
        if problem is not None:
            raise SecretFormatError(problem)
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
