"""UserDirectory over the MemoryDB control plane."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import SecretStr

from rotation import passwords
from rotation.adapters.aws import boto_config, error_code
from rotation.errors import AwsCallError, InvalidPasswordError, UserBusyError, UserNotFoundError
from rotation.models import MemoryDBUser

if TYPE_CHECKING:
    from mypy_boto3_memorydb import MemoryDBClient

MAX_PASSWORDS = 2


class MemoryDBDirectory:
    def __init__(self, client: MemoryDBClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> MemoryDBClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("memorydb", config=boto_config())
        return self._client

    def describe(self, user_name: str) -> MemoryDBUser:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.describe_users(UserName=user_name)
        except ClientError as exc:
            if error_code(exc) == "UserNotFoundFault":
                raise UserNotFoundError(f"there is no MemoryDB user '{user_name}'") from exc
            raise AwsCallError(f"DescribeUsers failed: {error_code(exc)}") from exc
        except BotoCoreError as exc:
            raise AwsCallError(f"DescribeUsers failed: {type(exc).__name__}") from None
        users = [u for u in response.get("Users", []) if u.get("Name") == user_name]
        if not users:
            raise UserNotFoundError(f"there is no MemoryDB user '{user_name}'")
        user = users[0]
        authentication = user.get("Authentication", {})
        return MemoryDBUser(
            name=user_name,
            arn=user.get("ARN", ""),
            status=user.get("Status", ""),
            auth_type=authentication.get("Type", ""),
            password_count=authentication.get("PasswordCount", 0),
        )

    def set_passwords(self, user_name: str, passwords_: Sequence[SecretStr]) -> None:
        if not 1 <= len(passwords_) <= MAX_PASSWORDS:
            raise InvalidPasswordError(f"a user holds 1 to {MAX_PASSWORDS} passwords")
        for password in passwords_:
            passwords.validate(password)
        from botocore.exceptions import BotoCoreError, ClientError

        # The request carried the passwords: the error is raised outside the `except`, so it holds
        # no reference to the original (neither __cause__ nor __context__).
        try:
            self.client.update_user(
                UserName=user_name,
                AuthenticationMode={
                    "Type": "password",
                    "Passwords": [p.get_secret_value() for p in passwords_],
                },
            )
        except ClientError as exc:
            code = error_code(exc)
        except BotoCoreError as exc:
            code = type(exc).__name__
        else:
            return
        if code == "InvalidUserStateFault":
            raise UserBusyError(f"user '{user_name}' is still applying a change")
        if code == "UserNotFoundFault":
            raise UserNotFoundError(f"there is no MemoryDB user '{user_name}'")
        raise AwsCallError(f"UpdateUser failed: {code}")
