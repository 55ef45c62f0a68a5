"""What every boto3 adapter shares: the retry configuration and one error translation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from rotation.errors import AwsCallError, RotationError

if TYPE_CHECKING:
    from botocore.config import Config

# Standard mode retries throttling and 5xx with backoff; five attempts in all (the first one
# included: `total_max_attempts`, where botocore reads `max_attempts` as retries after the first).
API_ATTEMPTS = 5
API_CONNECT_TIMEOUT_SECONDS = 5
API_READ_TIMEOUT_SECONDS = 10
# Standard mode sleeps min(20, random() * 2**attempt) between attempts (botocore's
# retries/standard.py, ExponentialBackoff, max_backoff 20): at most 1 + 2 + 4 + 8 s for five
# attempts.
_API_MAX_BACKOFF_SECONDS = sum(min(20, 2**attempt) for attempt in range(API_ATTEMPTS - 1))
API_CALL_WORST_CASE_SECONDS: float = (
    API_ATTEMPTS * (API_CONNECT_TIMEOUT_SECONDS + API_READ_TIMEOUT_SECONDS)
    + _API_MAX_BACKOFF_SECONDS
)
"""The longest one boto3 call can take before it gives up: every attempt timing out, backoff
between them. A step's waits stop this long before the Lambda's time does."""

T = TypeVar("T")
ErrorFactory = Callable[[str], RotationError]


def boto_config() -> Config:
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": API_ATTEMPTS},
        connect_timeout=API_CONNECT_TIMEOUT_SECONDS,
        read_timeout=API_READ_TIMEOUT_SECONDS,
    )


def call(
    operation: str, request: Callable[[], T], known: Mapping[str, ErrorFactory] | None = None
) -> T:
    """Run one boto3 call; turn botocore's errors into the project's own, by error code.

    The new error is raised outside the `except` blocks, so it keeps no reference to the original
    (neither __cause__ nor __context__): requests such as PutSecretValue and UpdateUser carry
    secrets, and botocore's parameter validation repeats the value it refused.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return request()
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
    except BotoCoreError as exc:
        code = type(exc).__name__
    factory = (known or {}).get(code)
    if factory is not None:
        raise factory(code)
    raise AwsCallError(f"{operation} failed: {code}")
