"""SecretStore over Secrets Manager.

Every read names its VersionStage (and VersionId when it has one): a read without a stage can
return another version after labels move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from rotation.adapters.aws import BotoAdapter, call
from rotation.errors import SecretFormatError, SecretNotFoundError, SecretValueNotFoundError
from rotation.models import AWSCURRENT, AWSPENDING, SecretMetadata

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient  # noqa: F401 - named in the base class


class SecretsManagerStore(BotoAdapter["SecretsManagerClient"]):
    SERVICE = "secretsmanager"

    def describe(self, secret_id: str) -> SecretMetadata:
        response = call(
            "DescribeSecret",
            lambda: self.client.describe_secret(SecretId=secret_id),
            {
                "ResourceNotFoundException": lambda _: SecretNotFoundError(
                    "there is no secret with that SecretId"
                )
            },
        )
        versions = {
            version: tuple(stages)
            for version, stages in response.get("VersionIdsToStages", {}).items()
        }
        return SecretMetadata(
            arn=response["ARN"],
            rotation_enabled=bool(response.get("RotationEnabled", False)),
            versions=versions,
        )

    def get_value(self, secret_id: str, *, stage: str, version_id: str | None = None) -> str:
        request: dict[str, Any] = {"SecretId": secret_id, "VersionStage": stage}
        if version_id is not None:
            request["VersionId"] = version_id
        response = call(
            "GetSecretValue",
            lambda: self.client.get_secret_value(**request),
            {
                "ResourceNotFoundException": lambda _: SecretValueNotFoundError(
                    f"the {stage} version of the secret has no value"
                )
            },
        )
        value = response.get("SecretString")
        if value is None:
            raise SecretFormatError(f"the {stage} version holds binary data, not a JSON string")
        return value

    def put_pending(
        self, secret_id: str, token: str, value: str, rotation_token: SecretStr | None
    ) -> None:
        request: dict[str, Any] = {
            "SecretId": secret_id,
            "ClientRequestToken": token,
            "SecretString": value,
            "VersionStages": [AWSPENDING],
        }
        if rotation_token is not None:
            request["RotationToken"] = rotation_token.get_secret_value()
        call("PutSecretValue", lambda: self.client.put_secret_value(**request))

    def promote(self, secret_id: str, *, token: str, from_version: str) -> None:
        call(
            "UpdateSecretVersionStage",
            lambda: self.client.update_secret_version_stage(
                SecretId=secret_id,
                VersionStage=AWSCURRENT,
                MoveToVersionId=token,
                RemoveFromVersionId=from_version,
            ),
        )
