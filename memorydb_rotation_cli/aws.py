"""boto3 clients from the standard configuration chain, and what a failed call means here.

The chain is boto3's own: `--profile`/AWS_PROFILE, `--region`/AWS_REGION, and AWS_ENDPOINT_URL
(botocore reads it), which is how the CLI runs against the sandbox.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rotation.adapters.aws import boto_config

if TYPE_CHECKING:
    import boto3
    from botocore.exceptions import ClientError

# Error codes that mean "the caller may not look", across the services the CLI reads.
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "ExpiredToken",
    }
)


def aws_errors() -> tuple[type[Exception], ...]:
    """What a boto3 call raises when AWS (or the endpoint) did not answer as asked."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    return (ClientError, BotoCoreError, ResponseParserError)


NO_CREDENTIALS = (
    "no AWS credentials: pass --profile or set AWS_PROFILE, run 'aws sso login' or "
    "'aws configure', or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)


class CliError(Exception):
    """A failure the CLI reports as exit code 2 (usage or access). Messages hold no secret."""


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def denied(exc: ClientError) -> bool:
    return error_code(exc) in DENIED_CODES


def describe_failure(exc: Exception, call: str) -> str:
    """What failed and why, in words an operator can act on; never a request parameter."""
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return f"{call}: {NO_CREDENTIALS}"
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in DENIED_CODES:
            return f"{call}: access denied ({code})"
        return f"{call} failed ({code})"
    # botocore.parsers.ResponseParserError (an endpoint answering HTML, e.g. an API the sandbox
    # does not serve) is not a BotoCoreError.
    return f"{call} failed ({type(exc).__name__})"


@dataclass
class Aws:
    """One session; one client per service, built on first use."""

    session: boto3.Session
    _clients: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_chain(cls, *, profile: str | None = None, region: str | None = None) -> Aws:
        import boto3
        from botocore.exceptions import BotoCoreError

        try:
            session = boto3.Session(profile_name=profile, region_name=region)
        except BotoCoreError as exc:
            raise CliError(f"AWS configuration: {exc}") from None
        if session.region_name is None:
            raise CliError("no AWS region: pass --region or set AWS_REGION (or AWS_DEFAULT_REGION)")
        if session.get_credentials() is None:
            raise CliError(NO_CREDENTIALS)
        return cls(session)

    def where(self) -> str:
        """`region eu-west-1, account 123456789012`, for messages about what was not found."""
        try:
            account = str(self.client("sts").get_caller_identity()["Account"])
        except aws_errors():
            account = "unknown"
        return f"region {self.region}, account {account}"

    @property
    def region(self) -> str:
        return str(self.session.region_name)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service,  # type: ignore[call-overload]
                config=boto_config(),
            )
        return self._clients[service]


def fingerprint(password: str) -> str:
    """A short digest that tells passwords apart without showing them (the demo's format).

    32 bits of SHA-256 do not give back a generated 32-character password; they only let two
    outputs be compared.
    """
    return "sha256:" + hashlib.sha256(password.encode()).hexdigest()[:8]
