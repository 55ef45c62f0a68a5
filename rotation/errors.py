"""The service's own errors.

Every message here is written by this project and names the problem, never a value taken from the
secret: a password, the raw SecretString, a raw field value or the RotationToken never reaches an
exception, so an error can be logged and re-raised to Secrets Manager as it is. An error that
replaces one that could hold a secret is raised outside the `except` that caught it, so neither
its __cause__ nor its __context__ keeps the original.

The contract callers rely on (the handler's metrics, the operator's command line, the retries):

- `RefusedError` and its subclasses are permanent: the same input meets the same refusal, so
  retrying without changing the secret, the user or the settings is pointless. Each is raised
  before the step's first write, and names what to change.
- Every other `RotationError` is transient: a state that time may fix (a user still modifying, a
  node lagging or unreachable, AWS throttling, the step's time running out). Secrets Manager's
  own retry of the step, or of the rotation, is the remedy.

`is_permanent(exc)` says which kind an error is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class RotationError(Exception):
    """Base of every failure the rotation reports to Secrets Manager."""


class RefusedError(RotationError):
    """Bad input or a state the service will not act on.

    In createSecret, setSecret and finishSecret a refusal comes before the step's first write;
    testSecret writes nothing, so its refusals change nothing either.
    """


class SettingsError(RefusedError):
    """An environment variable holds a value the service cannot run with."""


class BadEventError(RefusedError):
    """The invocation event is not a Secrets Manager rotation event."""


class RotationDisabledError(RefusedError):
    """The secret does not have rotation enabled."""


class TokenNotStagedError(RefusedError):
    """The ClientRequestToken is not a version of the secret."""


class TokenNotPendingError(RefusedError):
    """The ClientRequestToken's version is not a pending version this service may act on."""


class SecretFormatError(RefusedError):
    """The SecretString is not the documented JSON document."""


class SecretChangedError(RefusedError):
    """AWSCURRENT and AWSPENDING differ in more than the password: an edit would be lost."""


class SecretValueNotFoundError(RotationError):
    """A version or stage of the secret has no value (yet)."""


class UserRefusedError(RefusedError):
    """The MemoryDB user is one this service must not rotate."""


class UserNotFoundError(RefusedError):
    """The MemoryDB user does not exist."""


class UserOwnedElsewhereError(UserRefusedError):
    """Another secret already rotates this user: the two-password slot cannot serve two."""


class NoClusterError(RefusedError):
    """MemoryDB puts the user on no cluster: there is nowhere to prove a password."""


class EndpointRefusedError(RefusedError):
    """The secret's host/port/ssl do not name a cluster that MemoryDB says holds the user."""


class CurrentPasswordRejectedError(RefusedError):
    """The AWSCURRENT password does not authenticate as the user on every node."""


class PendingPasswordRejectedError(RotationError):
    """The AWSPENDING password does not authenticate on every node: it must never be promoted."""


class ClusterUnreachableError(RotationError):
    """A node could not be reached or its TLS certificate did not verify."""

    def __init__(self, message: str, *, reason: str = "unreachable") -> None:
        super().__init__(message)
        self.reason = reason


class NodeNotReadyError(RotationError):
    """MemoryDB names a node that has no endpoint yet (being created): it cannot be proven on."""


class ClaimContestedError(RotationError):
    """Another secret claims the same untagged user at the same moment: neither claim stands."""


class UserBusyError(RotationError):
    """MemoryDB answered InvalidUserStateFault: the user is still applying an earlier change."""


class WaitTimeoutError(RotationError):
    """A bounded wait ran out before the user turned active."""


class AwsCallError(RotationError):
    """An AWS call failed in a way the service does not handle (throttling after retries, 5xx)."""


class InvalidPasswordError(RefusedError):
    """A password breaks MemoryDB's rules: refused before it is written anywhere."""


class SecretNotFoundError(RefusedError):
    """The SecretId names no secret."""


def is_permanent(exc: BaseException) -> bool:
    """True for a refusal that a retry with the same input meets again (see the module doc)."""
    return isinstance(exc, RefusedError)


def describe_validation_error(exc: ValidationError, summary: str, *, reasons: bool = False) -> str:
    """`summary: 'field' is missing, 'other' is invalid`: field names only, never the input.

    With `reasons`, pydantic's own message follows each name; only for inputs whose constraints
    are not secret (settings), since a custom validator's message could quote its input.
    """
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        name = ".".join(str(part) for part in error["loc"]) or "value"
        kind = {"missing": "missing", "extra_forbidden": "unexpected"}.get(error["type"], "invalid")
        problems.append(f"{name}: {error['msg']}" if reasons else f"'{name}' is {kind}")
    return f"{summary}: " + ("; " if reasons else ", ").join(problems)
