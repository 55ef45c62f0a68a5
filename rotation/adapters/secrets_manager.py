"""SecretStore over Secrets Manager.

Every read names its VersionStage (and VersionId when it has one): a read without a stage can
return another version after labels move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from rotation.adapters.aws import boto_config, error_code
from rotation.errors import (
    AwsCallError,
    SecretFormatError,
    SecretNotFoundError,
    SecretValueNotFoundError,
)
from rotation.models import AWSCURRENT, AWSPENDING, SecretMetadata

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class SecretsManagerStore:
    def __init__(self, client: SecretsManagerClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> SecretsManagerClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager", config=boto_config())
        return self._client

    def describe(self, secret_id: str) -> SecretMetadata:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.describe_secret(SecretId=secret_id)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise SecretNotFoundError(f"there is no secret {secret_id}") from exc
            raise AwsCallError(f"DescribeSecret failed: {error_code(exc)}") from exc
        except BotoCoreError as exc:
            raise AwsCallError(f"DescribeSecret failed: {type(exc).__name__}") from None
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
        from botocore.exceptions import BotoCoreError, ClientError

        request: dict[str, Any] = {"SecretId": secret_id, "VersionStage": stage}
        if version_id is not None:
            request["VersionId"] = version_id
        try:
            response = self.client.get_secret_value(**request)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise SecretValueNotFoundError(
                    f"the {stage} version of secret {secret_id} has no value"
                ) from exc
            raise AwsCallError(f"GetSecretValue failed: {error_code(exc)}") from exc
        except BotoCoreError as exc:
            raise AwsCallError(f"GetSecretValue failed: {type(exc).__name__}") from None
        value = response.get("SecretString")
        if value is None:
            raise SecretFormatError(f"the {stage} version holds binary data, not a JSON string")
        return value

    def put_pending(
        self, secret_id: str, token: str, value: str, rotation_token: SecretStr | None
    ) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        request: dict[str, Any] = {
            "SecretId": secret_id,
            "ClientRequestToken": token,
            "SecretString": value,
            "VersionStages": [AWSPENDING],
        }
        if rotation_token is not None:
            request["RotationToken"] = rotation_token.get_secret_value()
        # The request carried the secret, and botocore's parameter validation repeats the value
        # it refused: the error is raised outside the `except`, so it holds no reference to the
        # original (neither __cause__ nor __context__).
        try:
            self.client.put_secret_value(**request)
        except ClientError as exc:
            failure = error_code(exc)
        except BotoCoreError as exc:
            failure = type(exc).__name__
        else:
            return
        raise AwsCallError(f"PutSecretValue failed: {failure}")

    def promote(self, secret_id: str, *, token: str, from_version: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.update_secret_version_stage(
                SecretId=secret_id,
                VersionStage=AWSCURRENT,
                MoveToVersionId=token,
                RemoveFromVersionId=from_version,
            )
        except ClientError as exc:
            raise AwsCallError(f"UpdateSecretVersionStage failed: {error_code(exc)}") from exc
        except BotoCoreError as exc:
            raise AwsCallError(f"UpdateSecretVersionStage failed: {type(exc).__name__}") from None
