"""In-memory fakes of the three ports, with helpers for assertions. No network."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from rotation.errors import (
    ClusterUnreachableError,
    NoClusterError,
    SecretValueNotFoundError,
    UserBusyError,
    UserNotFoundError,
)
from rotation.models import (
    AWSCURRENT,
    AWSPENDING,
    Cluster,
    Endpoint,
    MemoryDBUser,
    Node,
    SecretMetadata,
    Topology,
)
from rotation.ports import UserTags

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:memorydb/app-user-AbCdEf"
USER_ARN = "arn:aws:memorydb:us-east-1:123456789012:user/app-user"
TOKEN = "7d3bd9d4-7d6b-4a55-9f5f-7b3c6f1e2a10"
CURRENT_VERSION = "0a1b2c3d-0000-4000-8000-000000000001"
OLD_PASSWORD = "Old-password-0123456789abcdef!"
CLUSTER_HOST = "cluster.example.internal"


def cluster(name: str = "c1", nodes: int = 2, *, host: str = CLUSTER_HOST) -> Cluster:
    """A TLS cluster whose configuration endpoint is host:6379, with `nodes` nodes."""
    return Cluster(
        name=name,
        acl="app-acl",
        endpoint=Endpoint(host, 6379),
        tls=True,
        nodes=tuple(
            Node(f"{name}-000{i}-001", name, Endpoint(f"{name}-000{i}-001.example.internal", 6379))
            for i in range(1, nodes + 1)
        ),
    )


def secret_document(password: str = OLD_PASSWORD, **overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "username": "app-user",
        "password": password,
        "host": "cluster.example.internal",
        "port": 6379,
        "ssl": True,
        "user_arn": USER_ARN,
        "owner": "team-a",
    }
    document.update(overrides)
    return {k: v for k, v in document.items() if v is not None}


@dataclass
class FakeSecretStore:
    rotation_enabled: bool = True
    versions: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    rotation_tokens: list[str | None] = field(default_factory=list)

    @classmethod
    def with_current(cls, document: dict[str, Any] | None = None) -> FakeSecretStore:
        store = cls()
        store.versions[CURRENT_VERSION] = [AWSCURRENT]
        store.values[CURRENT_VERSION] = json.dumps(document or secret_document())
        store.versions[TOKEN] = [AWSPENDING]
        return store

    def describe(self, secret_id: str) -> SecretMetadata:
        return SecretMetadata(
            arn=SECRET_ARN,
            rotation_enabled=self.rotation_enabled,
            versions={v: tuple(s) for v, s in self.versions.items()},
        )

    def get_value(self, secret_id: str, *, stage: str, version_id: str | None = None) -> str:
        for version, stages in self.versions.items():
            wanted = stage in stages and (version_id is None or version == version_id)
            if wanted and version in self.values:
                return self.values[version]
        raise SecretValueNotFoundError(f"the {stage} version has no value")

    def put_pending(
        self, secret_id: str, token: str, value: str, rotation_token: SecretStr | None
    ) -> None:
        assert token not in self.values or self.values[token] == value, "version rewritten"
        self.writes.append("PutSecretValue")
        self.rotation_tokens.append(
            rotation_token.get_secret_value() if rotation_token is not None else None
        )
        self.values[token] = value
        for stages in self.versions.values():
            if AWSPENDING in stages:
                stages.remove(AWSPENDING)
        self.versions.setdefault(token, []).append(AWSPENDING)

    def promote(self, secret_id: str, *, token: str, from_version: str) -> None:
        self.writes.append("UpdateSecretVersionStage")
        self.versions[from_version].remove(AWSCURRENT)
        self.versions[token].append(AWSCURRENT)

    def password(self, version: str) -> str:
        return str(json.loads(self.values[version])["password"])

    def document(self, version: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.values[version])
        return loaded


@dataclass
class FakeUserDirectory:
    """A user whose passwords apply at once, with an optional run of busy answers."""

    name: str = "app-user"
    arn: str = USER_ARN
    auth_type: str = "password"
    passwords: list[str] = field(default_factory=lambda: [OLD_PASSWORD])
    statuses: list[str] = field(default_factory=list)
    """Statuses to answer before `active` (consumed one per describe)."""
    busy_updates: int = 0
    """How many update attempts answer InvalidUserStateFault first."""
    exists: bool = True
    access_string: str = "on ~* +@all"
    clusters: list[Cluster] = field(default_factory=lambda: [cluster()])
    owner_arn: str | None = None
    user_tags: dict[str, str] = field(default_factory=dict)
    """The operator's tags on the user (fleet mode), beside the owner tag."""
    tag_reads: int = 0
    updates: list[list[str]] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    describes: int = 0

    def describe(self, user_name: str) -> MemoryDBUser:
        self.describes += 1
        if not self.exists or user_name != self.name:
            raise UserNotFoundError(f"there is no MemoryDB user '{user_name}'")
        status = self.statuses.pop(0) if self.statuses else "active"
        return MemoryDBUser(
            name=self.name,
            arn=self.arn,
            status=status,
            auth_type=self.auth_type,
            password_count=len(self.passwords) if self.auth_type == "password" else 0,
            acl_names=("app-acl",) if self.clusters else (),
            access_string=self.access_string,
        )

    def topology(self, user: MemoryDBUser) -> Topology:
        if not self.clusters:
            raise NoClusterError(f"user '{user.name}' is on no cluster")
        return Topology(user.name, ("app-acl",), tuple(self.clusters))

    def tags(self, user: MemoryDBUser) -> UserTags:
        self.tag_reads += 1
        return UserTags(owner=self.owner_arn, tags=dict(self.user_tags))

    def claim(self, user: MemoryDBUser, secret_arn: str) -> None:
        self.claims.append(secret_arn)
        self.owner_arn = secret_arn

    @property
    def writes(self) -> int:
        """UpdateUser and TagResource calls: the directory's writes."""
        return len(self.updates) + len(self.claims)

    def set_passwords(self, user_name: str, passwords: Sequence[SecretStr]) -> None:
        if self.busy_updates:
            self.busy_updates -= 1
            self.statuses.append("modifying")
            raise UserBusyError("busy")
        assert 1 <= len(passwords) <= 2
        self.passwords = [p.get_secret_value() for p in passwords]
        self.updates.append(list(self.passwords))


@dataclass
class FakeVerifier:
    """Authenticates against the fake directory's current set (the data plane follows it).

    `stale` nodes keep the set they held when they went stale (a replica that lags); `down`
    nodes cannot be reached. Both are keyed by the node's host name.
    """

    users: FakeUserDirectory
    unreachable: bool = False
    down: set[str] = field(default_factory=set)
    stale: dict[str, list[str]] = field(default_factory=dict)
    attempts: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    timeout_seconds: float = 5.0

    def authenticates(self, endpoint: Endpoint, username: str, password: SecretStr) -> bool:
        if self.unreachable or endpoint.host in self.down:
            raise ClusterUnreachableError(f"cannot reach {endpoint}", reason="timed out")
        self.attempts.append(username)
        self.hosts.append(endpoint.host)
        held = self.stale.get(endpoint.host, self.users.passwords)
        return username == self.users.name and password.get_secret_value() in held


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
