"""What every boto3 adapter shares: the retry configuration and one error translation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

from rotation.errors import AwsCallError, RotationError

if TYPE_CHECKING:
    import boto3
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
ClientT = TypeVar("ClientT")
ErrorFactory = Callable[[str], RotationError]


class BotoAdapter(Generic[ClientT]):
    """The constructor every boto3 adapter takes, as Powertools' providers do: a client, or a
    session to build one from, and a botocore Config. The composition root passes none and gets
    the default session's client, built on first use (boto3 stays out of the import)."""

    SERVICE: ClassVar[str]

    def __init__(
        self,
        *,
        boto3_client: ClientT | None = None,
        boto3_session: boto3.session.Session | None = None,
        config: Config | None = None,
    ) -> None:
        self._client = boto3_client
        self._session = boto3_session
        self._config = config

    @property
    def client(self) -> ClientT:
        if self._client is None:
            import boto3

            # The default session unless given one: its event hooks (the benchmarks' call
            # counter, the fault campaign) and its loaded data are shared by every client.
            factory: Any = self._session.client if self._session is not None else boto3.client
            self._client = cast(
                ClientT, factory(self.SERVICE, config=self._config or boto_config())
            )
        return self._client


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
