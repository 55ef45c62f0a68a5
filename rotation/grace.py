"""OLD_PASSWORD_POLICY=drop-after: the old password stays for a grace period, then is dropped.

finishSecret moves AWSCURRENT, keeps the old password, and asks a `DropScheduler` for a one-time
schedule that invokes this function with a `DropOldPasswordEvent` when the grace is over. Clients
that cache the secret (AWS's caching client refreshes at most every hour) keep working until their
next refresh, and the user holds one password again after the grace.

The scheduled event is input like any other: it is parsed strictly, and the drop happens only when
the state says the grace of *that* rotation is what is left to finish. Anything else is a no-op
with the reason logged, so a forged or stale event can at worst drop the old password early (which
is what invoking it by hand is for), never AWSCURRENT's:

- the secret has rotation enabled, and the event's token is the AWSCURRENT version;
- no other rotation is in progress (no AWSPENDING on another version);
- the user is one this function may rotate and still holds two passwords;
- AWSCURRENT's password authenticates on every node of every cluster MemoryDB says holds the
  user (rotation.proof), over TLS only.

Then `Passwords=[current]`, waiting out InvalidUserStateFault, with the labels read again before
each attempt. The drop is idempotent: EventBridge Scheduler and Lambda's asynchronous invocation
both retry. If the schedule is lost, the next rotation's setSecret replaces the old password anyway:
the worst case is `keep`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rotation.drop_event import DROP_ACTION, is_drop_event
from rotation.errors import (
    BadEventError,
    ClusterUnreachableError,
    EndpointRefusedError,
    NoClusterError,
    RefusedError,
    UserBusyError,
    WaitTimeoutError,
)
from rotation.models import AWSCURRENT, AWSPENDING, Credentials, MemoryDBUser, SecretMetadata
from rotation.ports import CredentialVerifier, SecretStore, UserDirectory
from rotation.proof import prove
from rotation.rotator import Located, locate
from rotation.settings import Settings
from rotation.waiting import Backoff, Budget, wait_until_active

__all__ = [
    "DROP_ACTION",
    "DropOldPasswordEvent",
    "DropResult",
    "DropScheduler",
    "OldPasswordDropper",
    "is_drop_event",
]
# A full secret ARN (the scheduled event always carries one), as the template's SecretArns.
_SM_ARN = r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$"


class DropOldPasswordEvent(BaseModel):
    """`{"Action": "dropOldPassword", "SecretId": <secret ARN>, "ClientRequestToken": <version>}`.

    No other key is accepted: the event is the schedule's fixed Input, nothing else writes it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    action: Literal["dropOldPassword"] = Field(alias="Action")
    secret_id: str = Field(alias="SecretId", pattern=_SM_ARN)
    token: str = Field(
        alias="ClientRequestToken", min_length=32, max_length=64, pattern=r"^[A-Za-z0-9-]+$"
    )

    @classmethod
    def from_event(cls, event: object) -> DropOldPasswordEvent:
        if not isinstance(event, dict):
            raise BadEventError("the event is not a JSON object")
        try:
            return cls.model_validate(event)
        except ValidationError as exc:
            fields = sorted({str(err["loc"][0]) for err in exc.errors() if err["loc"]})
            raise BadEventError(
                "the event is not a dropOldPassword event; bad, missing or unexpected: "
                + ", ".join(fields or ["(the whole event)"])
            ) from None

    @classmethod
    def for_rotation(cls, secret_id: str, token: str) -> DropOldPasswordEvent:
        return cls.model_validate(
            {"Action": DROP_ACTION, "SecretId": secret_id, "ClientRequestToken": token}
        )

    def as_input(self) -> dict[str, str]:
        return self.model_dump(by_alias=True)


class DropScheduler(Protocol):
    def schedule_drop(self, secret_id: str, token: str, grace_seconds: int) -> bool:
        """Create the one-time schedule for this rotation; False when it already exists."""
        ...


@dataclass(frozen=True)
class DropResult:
    outcome: str
    """`dropped_old`, or `noop_<reason>`."""
    user: str | None
    waited_seconds: float
    reason: str

    @property
    def dropped(self) -> bool:
        return self.outcome == "dropped_old"


class OldPasswordDropper:
    """The scheduled end of a `drop-after` rotation."""

    def __init__(
        self,
        secrets: SecretStore,
        users: UserDirectory,
        verifier: CredentialVerifier,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_user: Callable[[str], None] | None = None,
    ) -> None:
        self._secrets = secrets
        self._users = users
        self._verifier = verifier
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._on_user = on_user or (lambda _name: None)
        self._backoff = Backoff(
            settings.wait_initial_interval_seconds, settings.wait_max_interval_seconds
        )

    def drop(  # noqa: PLR0911 - one return per documented no-op
        self, event: DropOldPasswordEvent, time_left: float
    ) -> DropResult:
        budget = Budget(
            clock=self._clock,
            sleep=self._sleep,
            deadline=self._clock() + min(self._settings.wait_timeout_seconds, time_left),
        )
        user_name: str | None = None

        def noop(reason: str, why: str) -> DropResult:
            return DropResult(f"noop_{reason}", user_name, budget.waited, why)

        meta = self._secrets.describe(event.secret_id)
        stale = _stale(meta, event.token)
        if stale is not None:
            return noop(*stale)
        current = Credentials.parse(
            self._secrets.get_value(event.secret_id, stage=AWSCURRENT, version_id=event.token)
        )
        user_name = current.username
        self._on_user(user_name)
        try:
            located = locate(self._users, self._settings, current, meta)
        except (NoClusterError, EndpointRefusedError) as exc:
            return noop("current_not_proven", str(exc))
        except RefusedError as exc:
            # The rotation's own refusals (allow-list, owner, password type...) make a no-op
            # here: a forged or stale event must never turn into an error loop of drops.
            return noop("user_refused", str(exc))
        known: MemoryDBUser | None = located.user
        while True:
            user = wait_until_active(self._users, user_name, budget, self._backoff, known=known)
            if user.password_count < 2:
                return noop("already_dropped", f"user '{user_name}' holds one password")
            unproven = self._unproven(current, located, budget)
            if unproven is not None:
                return noop("current_not_proven", unproven)
            # The labels again, right before the write: a rotation that started meanwhile owns
            # the password set now, and its setSecret must not lose the pending password to us.
            stale = _stale(self._secrets.describe(event.secret_id), event.token)
            if stale is not None:
                return noop(*stale)
            try:
                self._users.set_passwords(user_name, [current.password])
            except UserBusyError:
                # InvalidUserStateFault: another change is propagating; wait, then check again.
                if budget.remaining() <= 0:
                    raise WaitTimeoutError(
                        f"user '{user_name}' stayed busy; the old password is dropped on retry"
                    ) from None
                budget.pause(self._backoff.initial)
                known = None
                continue
            return DropResult("dropped_old", user_name, budget.waited, "the grace is over")

    def _unproven(self, current: Credentials, located: Located, budget: Budget) -> str | None:
        """Why AWSCURRENT's password is not proven on every node MemoryDB names (None: it is).

        Unreachable nodes raise instead: the invocation's retries may outlive a network problem,
        while a refusal means the user was changed outside rotation.
        """
        proof = prove(
            self._verifier,
            located.topology.nodes,
            current.username,
            current.password,
            seconds=max(0.0, budget.remaining()) + self._verifier.timeout_seconds,
            clock=self._clock,
        )
        if proof.everywhere:
            return None
        if proof.rejected:
            return f"the AWSCURRENT password is not accepted everywhere: {proof.describe()}"
        raise ClusterUnreachableError(
            f"cannot prove the AWSCURRENT password as '{current.username}' on every node "
            f"({proof.describe()}); the old password stays until a retry proves it"
        )


def _stale(meta: SecretMetadata, token: str) -> tuple[str, str] | None:
    """Why this event is not (or no longer) the end of the current rotation's grace."""
    if not meta.rotation_enabled:
        return "rotation_disabled", f"rotation is not enabled for secret {meta.arn}"
    stages = meta.versions.get(token)
    if stages is None or AWSCURRENT not in stages:
        return "superseded", f"version {token} is not AWSCURRENT of secret {meta.arn}"
    pending = meta.version_with(AWSPENDING)
    if pending is not None and pending != token:
        return "rotation_in_progress", f"version {pending} of secret {meta.arn} is AWSPENDING"
    return None
