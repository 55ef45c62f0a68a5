"""moto's Secrets Manager, made as strict as Secrets Manager where rotation depends on it.

- put_secret_value: a version that holds a value can never get a different one
  (ResourceExistsException); the same value again is accepted, as AWS does for idempotent retries.
- update_secret_version_stage: a label attached to another version must be named in
  RemoveFromVersionId; moving AWSCURRENT also moves the default version moto serves and
  AWSPREVIOUS; no label is attached twice.
- put_secret_value with a label another version holds moves it: AWSCURRENT leaves its old version
  (which becomes AWSPREVIOUS, keeping its other labels) instead of staying there too; moto finds
  "the old AWSCURRENT" by its default version id, which a rotation's label moves do not keep.
- list_secret_version_ids reports each version's CreatedDate as it was created; moto reports
  "now" for every version, so the age of a pending version never grows.
- stage_pending: what RotateSecret does before it calls createSecret (an empty AWSPENDING version),
  including its refusal while an earlier rotation's AWSPENDING is still on another version. The
  same token again resumes that rotation (RotateSecret with ClientRequestToken = its version id).

It also owns every direct read and edit of moto's backend (the service's own acts around a
rotation, hand edits no API call can make, and `view`), so nothing outside this module reaches
into moto's Secrets Manager objects.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto.secretsmanager.exceptions import (
    InvalidParameterException,
    InvalidRequestException,
    ResourceExistsException,
    SecretNotFoundException,
)
from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend, secretsmanager_backends

AWSCURRENT = "AWSCURRENT"
AWSPENDING = "AWSPENDING"
AWSPREVIOUS = "AWSPREVIOUS"


@dataclass(frozen=True)
class SecretView:
    """A secret's labels and values as Secrets Manager holds them (for the demo and checks)."""

    versions: dict[str, list[str]]
    values: dict[str, dict[str, Any]]

    def version_with(self, stage: str) -> str | None:
        for version, stages in self.versions.items():
            if stage in stages:
                return version
        return None

    def password(self, stage: str) -> str | None:
        version = self.version_with(stage)
        if version is None or version not in self.values:
            return None
        return str(self.values[version]["password"])


class StrictSecretsManager:
    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region
        self.calls: list[str] = []
        self._lock = threading.RLock()

    def _backend(self) -> SecretsManagerBackend:
        # Looked up on every use: moto hands out a fresh backend each time mock_aws() starts.
        backend: SecretsManagerBackend = secretsmanager_backends[self.account][self.region]
        return backend

    @contextmanager
    def patched(self) -> Iterator[StrictSecretsManager]:
        originals = {
            name: getattr(SecretsManagerBackend, name)
            for name in (
                "put_secret_value",
                "update_secret_version_stage",
                "get_secret_value",
                "describe_secret",
                "list_secret_version_ids",
            )
        }
        strict = self

        def put_secret_value(
            backend: SecretsManagerBackend,
            secret_id: str,
            secret_string: str,
            secret_binary: str,
            client_request_token: str,
            version_stages: list[str],
        ) -> Any:
            with strict._lock:
                strict.calls.append("PutSecretValue")
                secret = _secret(backend, secret_id)
                existing = secret.versions.get(client_request_token) if secret else None
                repeated = existing is not None and _has_value(existing)
                if repeated and existing is not None:
                    same = (
                        existing.get("secret_string") == secret_string
                        and existing.get("secret_binary") == secret_binary
                    )
                    if not same:
                        raise ResourceExistsException(
                            f"You can't use ClientRequestToken {client_request_token} because "
                            "that value is already in use for a version of secret "
                            f"{secret.arn if secret else secret_id}."
                        )
                before = _labels(secret)
                stages = list(version_stages or [])
                result = originals["put_secret_value"](
                    backend,
                    secret_id,
                    secret_string,
                    secret_binary,
                    client_request_token,
                    version_stages,
                )
                secret = _secret(backend, secret_id)
                if secret is not None and existing is not None and "createdate" in existing:
                    # A version is created once (RotateSecret stages it); its value comes later.
                    secret.versions[client_request_token]["createdate"] = existing["createdate"]
                if secret is not None and before and stages and not repeated:
                    _move_labels(secret, client_request_token, stages, before)
                return result

        def get_secret_value(
            backend: SecretsManagerBackend, secret_id: str, version_id: str, version_stage: str
        ) -> Any:
            with strict._lock:
                strict.calls.append("GetSecretValue")
                return originals["get_secret_value"](backend, secret_id, version_id, version_stage)

        def list_secret_version_ids(backend: SecretsManagerBackend, secret_id: str) -> str:
            with strict._lock:
                listed = json.loads(originals["list_secret_version_ids"](backend, secret_id))
                secret = _secret(backend, secret_id)
                if secret is not None:
                    for entry in listed.get("Versions", []):
                        version = secret.versions.get(entry["VersionId"], {})
                        entry["CreatedDate"] = version.get("createdate", entry["CreatedDate"])
                return json.dumps(listed)

        def describe_secret(backend: SecretsManagerBackend, secret_id: str) -> Any:
            with strict._lock:
                strict.calls.append("DescribeSecret")
                return originals["describe_secret"](backend, secret_id)

        def update_secret_version_stage(
            backend: SecretsManagerBackend,
            secret_id: str,
            version_stage: str,
            remove_from_version_id: str,
            move_to_version_id: str,
        ) -> tuple[str, str]:
            with strict._lock:
                strict.calls.append("UpdateSecretVersionStage")
                secret = _secret(backend, secret_id)
                if secret is None:
                    raise SecretNotFoundException()
                versions = secret.versions
                holder = _version_with(secret, version_stage)
                if remove_from_version_id:
                    if remove_from_version_id not in versions:
                        raise InvalidParameterException(
                            f"Not a valid version: {remove_from_version_id}"
                        )
                    if version_stage not in versions[remove_from_version_id]["version_stages"]:
                        raise InvalidParameterException(
                            f"Version stage {version_stage} not found in version "
                            f"{remove_from_version_id}"
                        )
                if move_to_version_id:
                    if move_to_version_id not in versions:
                        raise InvalidParameterException(
                            f"Not a valid version: {move_to_version_id}"
                        )
                    if holder is not None and holder not in (
                        move_to_version_id,
                        remove_from_version_id,
                    ):
                        raise InvalidParameterException(
                            f"The parameter RemoveFromVersionId can't be empty. Staging label "
                            f"{version_stage} is currently attached to version {holder}, so you "
                            "must explicitly reference that version in RemoveFromVersionId."
                        )
                if remove_from_version_id:
                    versions[remove_from_version_id]["version_stages"].remove(version_stage)
                if move_to_version_id:
                    stages = versions[move_to_version_id]["version_stages"]
                    if version_stage not in stages:
                        stages.append(version_stage)
                if (
                    version_stage == AWSCURRENT
                    and move_to_version_id
                    and remove_from_version_id
                    and move_to_version_id != remove_from_version_id
                ):
                    # Secrets Manager moves AWSPREVIOUS to the version AWSCURRENT left.
                    for version in versions.values():
                        if AWSPREVIOUS in version["version_stages"]:
                            version["version_stages"].remove(AWSPREVIOUS)
                    versions[remove_from_version_id]["version_stages"].append(AWSPREVIOUS)
                    secret.default_version_id = move_to_version_id
                return secret.arn, secret.name

        replacements = {
            "put_secret_value": put_secret_value,
            "update_secret_version_stage": update_secret_version_stage,
            "get_secret_value": get_secret_value,
            "describe_secret": describe_secret,
            "list_secret_version_ids": list_secret_version_ids,
        }
        for name, function in replacements.items():
            setattr(SecretsManagerBackend, name, function)
        try:
            yield self
        finally:
            for name, function in originals.items():
                setattr(SecretsManagerBackend, name, function)

    # -- what the service itself does around a rotation -----------------------------------------

    def enable_rotation(self, secret_id: str, lambda_arn: str, days: int = 30) -> None:
        """RotationEnabled as RotateSecret/RotationSchedule leave it, without moto's Lambda run."""
        secret = _require(self._backend(), secret_id)
        secret.rotation_requested = True
        secret.rotation_enabled = True
        secret.rotation_lambda_arn = lambda_arn
        secret.auto_rotate_after_days = days

    def disable_rotation(self, secret_id: str) -> None:
        _require(self._backend(), secret_id).rotation_enabled = False

    def stage_pending(
        self,
        secret_id: str,
        token: str,
        *,
        copy_current: bool = False,
    ) -> None:
        """RotateSecret's first act: an AWSPENDING version under `token`.

        Empty for a rotation; a copy of AWSCURRENT when RotateImmediately=false. Refused while
        AWSPENDING is still attached to a version other than AWSCURRENT.
        """
        with self._lock:
            secret = _require(self._backend(), secret_id)
            holder = _version_with(secret, AWSPENDING)
            if holder is not None and holder != token:
                if AWSCURRENT not in secret.versions[holder]["version_stages"]:
                    raise InvalidRequestException(
                        "A previous rotation isn't complete. That rotation will be reattempted."
                    )
                secret.versions[holder]["version_stages"].remove(AWSPENDING)
            if token in secret.versions:
                return
            version: dict[str, Any] = {
                "createdate": int(time.time()),
                "version_id": token,
                "version_stages": [AWSPENDING],
            }
            if copy_current:
                current = _version_with(secret, AWSCURRENT)
                if current is not None:
                    version["secret_string"] = secret.versions[current].get("secret_string")
            secret.versions[token] = version

    def finish_rotation(self, secret_id: str, token: str) -> None:
        """After finishSecret succeeded, the service removes AWSPENDING from the new version."""
        with self._lock:
            secret = _require(self._backend(), secret_id)
            stages = secret.versions[token]["version_stages"]
            if AWSPENDING in stages:
                stages.remove(AWSPENDING)
            secret.last_rotation_date = int(time.time())

    # -- hand edits: states no API call produces, for tests that need them ----------------------

    def set_version_stages(self, secret_id: str, version_id: str, stages: Sequence[str]) -> None:
        """The version's labels become exactly `stages`; no other version is touched."""
        with self._lock:
            secret = _require(self._backend(), secret_id)
            if version_id not in secret.versions:
                raise InvalidParameterException(f"Not a valid version: {version_id}")
            secret.versions[version_id]["version_stages"] = list(stages)

    def put_version(
        self,
        secret_id: str,
        version_id: str,
        value: str | bytes | None,
        stages: Sequence[str] = (),
    ) -> None:
        """Creates or replaces a version as given: a string or binary value (or none) and labels,
        past every check PutSecretValue makes (size, one value per version)."""
        with self._lock:
            secret = _require(self._backend(), secret_id)
            record: dict[str, Any] = {
                "createdate": int(time.time()),
                "version_id": version_id,
                "version_stages": list(stages),
            }
            if isinstance(value, bytes):
                record["secret_binary"] = base64.b64encode(value).decode()  # as moto keeps it
            elif value is not None:
                record["secret_string"] = value
            secret.versions[version_id] = record

    def delete_version(self, secret_id: str, version_id: str) -> None:
        with self._lock:
            secret = _require(self._backend(), secret_id)
            if version_id not in secret.versions:
                raise InvalidParameterException(f"Not a valid version: {version_id}")
            del secret.versions[version_id]

    # -- observation ----------------------------------------------------------------------------

    def view(self, secret_id: str) -> SecretView:
        """Labels and JSON values straight from the backend (no API call is counted)."""
        with self._lock:
            secret = _require(self._backend(), secret_id)
            versions = {v: list(d["version_stages"]) for v, d in secret.versions.items()}
            strings = {v: d.get("secret_string") for v, d in secret.versions.items()}
        return SecretView(versions, {v: json.loads(text) for v, text in strings.items() if text})


def _secret(backend: SecretsManagerBackend, secret_id: str) -> FakeSecret | None:
    if secret_id in backend.secrets:
        secret = backend.secrets[secret_id]
        return secret if isinstance(secret, FakeSecret) else None
    return None


def _require(backend: SecretsManagerBackend, secret_id: str) -> FakeSecret:
    secret = _secret(backend, secret_id)
    if secret is None:
        raise SecretNotFoundException()
    return secret


def _labels(secret: FakeSecret | None) -> dict[str, list[str]]:
    if secret is None:
        return {}
    return {v: list(d["version_stages"]) for v, d in secret.versions.items()}


def _move_labels(
    secret: FakeSecret, version_id: str, stages: list[str], before: dict[str, list[str]]
) -> None:
    """After PutSecretValue, the labels are what Secrets Manager leaves, computed from the labels
    before the call: each label it attached is on `version_id` alone; the version AWSCURRENT left
    keeps its other labels and gains AWSPREVIOUS (moto's reset_default_version instead replaces
    the labels of its default version, which label moves do not keep, with AWSPREVIOUS alone)."""
    after = {v: list(labels) for v, labels in before.items()}
    after.setdefault(version_id, [])
    old_current = next((v for v, labels in before.items() if AWSCURRENT in labels), None)
    for stage in stages:
        for other_id, labels in after.items():
            if other_id != version_id and stage in labels:
                labels.remove(stage)
        if stage not in after[version_id]:
            after[version_id].append(stage)
    if AWSCURRENT in stages and old_current is not None and old_current != version_id:
        for labels in after.values():
            if AWSPREVIOUS in labels:
                labels.remove(AWSPREVIOUS)
        after[old_current].append(AWSPREVIOUS)
    if AWSCURRENT in after[version_id]:
        secret.default_version_id = version_id
    for other_id, labels in after.items():
        if other_id in secret.versions:
            secret.versions[other_id]["version_stages"] = labels


def _has_value(version: dict[str, Any]) -> bool:
    return "secret_string" in version or "secret_binary" in version


def _version_with(secret: FakeSecret, stage: str) -> str | None:
    for version_id, version in secret.versions.items():
        if stage in version["version_stages"]:
            return str(version_id)
    return None
