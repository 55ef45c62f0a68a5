"""The service's own errors.

Every message here is written by this project and names the problem, never a value taken from the
secret: a password, the raw SecretString or the RotationToken never reaches an exception, so an
error can be logged and re-raised to Secrets Manager as it is.
"""

from __future__ import annotations


class RotationError(Exception):
    """Base of every failure the rotation reports to Secrets Manager."""


class RefusedError(RotationError):
    """Bad input or a state the service will not act on. Raised before the first write."""


class SettingsError(RefusedError):
    """An environment variable holds a value the service cannot run with."""


class BadEventError(RefusedError):
    """The invocation event is not a Secrets Manager rotation event."""


class RotationDisabledError(RefusedError):
    """The secret does not have rotation enabled."""


class TokenNotStagedError(RefusedError):
    """The ClientRequestToken is not a version of the secret."""


class TokenNotPendingError(RefusedError):
    """The ClientRequestToken's version is neither AWSPENDING nor AWSCURRENT."""


class SecretFormatError(RefusedError):
    """The SecretString is not the documented JSON document."""


class SecretValueNotFoundError(RotationError):
    """A version or stage of the secret has no value (yet)."""


class UserRefusedError(RefusedError):
    """The MemoryDB user is one this service must not rotate."""


class UserNotFoundError(RefusedError):
    """The MemoryDB user does not exist."""


class CurrentPasswordRejectedError(RefusedError):
    """The AWSCURRENT password does not authenticate as the user on the cluster."""


class PendingPasswordRejectedError(RotationError):
    """The AWSPENDING password does not authenticate: it must never be promoted."""


class ClusterUnreachableError(RotationError):
    """The cluster endpoint could not be reached or its TLS certificate did not verify."""


class UserBusyError(RotationError):
    """MemoryDB answered InvalidUserStateFault: the user is still applying an earlier change."""


class WaitTimeoutError(RotationError):
    """A bounded wait ran out before the user turned active."""


class AwsCallError(RotationError):
    """An AWS call failed in a way the service does not handle (throttling after retries, 5xx)."""


class InvalidPasswordError(RotationError):
    """A password breaks MemoryDB's rules; generated passwords never do, so this is a bug guard."""


class SecretNotFoundError(RefusedError):
    """The SecretId names no secret."""
