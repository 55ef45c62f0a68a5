"""The four ports the rotator needs. Adapters (rotation/adapters/) implement them over boto3 and
redis; the unit tests implement them as in-memory fakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import SecretStr

from rotation.models import (
    DropOldPasswordEvent,
    Endpoint,
    MemoryDBUser,
    SecretMetadata,
    Topology,
)


class SecretStore(Protocol):
    def describe(self, secret_id: str) -> SecretMetadata: ...

    def get_value(self, secret_id: str, *, stage: str, version_id: str | None = None) -> str:
        """The SecretString; raises SecretValueNotFoundError when the version has no value."""
        ...

    def put_pending(
        self, secret_id: str, token: str, value: str, rotation_token: SecretStr | None
    ) -> None: ...

    def promote(self, secret_id: str, *, token: str, from_version: str) -> None:
        """Move AWSCURRENT to `token` (Secrets Manager moves AWSPREVIOUS itself)."""
        ...


@dataclass(frozen=True)
class UserTags:
    """A user's tags as one ListTags call read them: who owns the user, and everything else the
    operator tagged it with (fleet mode's ROTATION_USER_TAG is checked against these)."""

    owner: str | None
    """The ARN of the secret that has claimed the user, if any."""
    tags: Mapping[str, str] = field(default_factory=dict)


class UserDirectory(Protocol):
    def describe(self, user_name: str) -> MemoryDBUser:
        """Raises UserNotFoundError when there is no such user."""
        ...

    def topology(self, user: MemoryDBUser) -> Topology:
        """Every cluster and node holding the user; raises NoClusterError when there is none."""
        ...

    def tags(self, user: MemoryDBUser) -> UserTags:
        """The user's tags, its owner among them, from one read."""
        ...

    def claim(self, user: MemoryDBUser, secret_arn: str) -> None:
        """Record `secret_arn` as the one secret that rotates the user."""
        ...

    def set_passwords(self, user_name: str, passwords: Sequence[SecretStr]) -> None:
        """Replace the user's whole password set. Raises UserBusyError while it is modifying."""
        ...


class CredentialVerifier(Protocol):
    timeout_seconds: float

    def authenticates(self, endpoint: Endpoint, username: str, password: SecretStr) -> bool:
        """True when the node answers OK to AUTH; False when it refuses the credentials.

        Raises ClusterUnreachableError when the node cannot be reached or does not verify.
        """
        ...


class DropScheduler(Protocol):
    """OLD_PASSWORD_POLICY=drop-after: where the end of a rotation's grace is scheduled."""

    def schedule_drop(
        self, event: DropOldPasswordEvent, *, grace_seconds: int, target_arn: str
    ) -> bool:
        """Have `target_arn` invoked with `event` after `grace_seconds`, once per rotation.

        False when this rotation's schedule already exists (a retried finishSecret): the first
        one's time stands.
        """
        ...
