"""The four rotation steps over the MemoryDB two-password slot.

Order of operations (why it never breaks a client):
1. createSecret writes the new password only into the AWSPENDING version.
2. setSecret makes the user accept both passwords: [current, pending].
3. testSecret proves the pending password on the cluster once the change has propagated.
4. finishSecret moves AWSCURRENT first and drops the old password after, so any reader of
   AWSCURRENT holds a password the cluster accepts at every moment.

Every step is safe to re-run with the same token after a crash at any point: createSecret keeps a
pending value that exists, setSecret replaces the whole password set (the same set twice is the
same state), and finishSecret completes the drop when the label has already moved.
Every refusal happens before the step's first write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import SecretStr

from rotation import passwords
from rotation.errors import (
    CurrentPasswordRejectedError,
    PendingPasswordRejectedError,
    RotationDisabledError,
    SecretFormatError,
    SecretValueNotFoundError,
    SettingsError,
    TokenNotPendingError,
    TokenNotStagedError,
    UserBusyError,
    UserRefusedError,
)
from rotation.models import (
    AWSCURRENT,
    AWSPENDING,
    Credentials,
    Endpoint,
    MemoryDBUser,
    RotationRequest,
    SecretMetadata,
    Step,
)
from rotation.ports import CredentialVerifier, SecretStore, UserDirectory
from rotation.settings import Settings
from rotation.waiting import Backoff, Budget, wait_until_active

if TYPE_CHECKING:
    from rotation.grace import DropScheduler


@dataclass(frozen=True)
class StepResult:
    outcome: str
    user: str | None
    waited_seconds: float


class Rotator:
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
        drop_scheduler: DropScheduler | None = None,
    ) -> None:
        self._secrets = secrets
        self._users = users
        self._verifier = verifier
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._on_user = on_user or (lambda _name: None)
        self._drop_scheduler = drop_scheduler
        self._backoff = Backoff(
            settings.wait_initial_interval_seconds, settings.wait_max_interval_seconds
        )

    def handle(self, request: RotationRequest, time_left: float) -> StepResult:
        """Run the guard, then the request's step. `time_left` bounds every wait in seconds."""
        budget = Budget(
            clock=self._clock,
            sleep=self._sleep,
            deadline=self._clock() + min(self._settings.wait_timeout_seconds, time_left),
        )
        meta = self._guard(request)
        token_is_current = AWSCURRENT in meta.versions[request.token]
        if token_is_current:
            # Secrets Manager retried after the label moved: only finishSecret has work left.
            if request.step is Step.FINISH:
                return self.complete_finish(request, budget)
            return StepResult("nothing_to_do", None, budget.waited)
        steps = {
            Step.CREATE: self.create_pending,
            Step.SET: self.set_pending,
            Step.TEST: self.prove_pending,
            Step.FINISH: self.promote_pending,
        }
        return steps[request.step](request, budget, meta)

    def _guard(self, request: RotationRequest) -> SecretMetadata:
        meta = self._secrets.describe(request.secret_id)
        if not meta.rotation_enabled:
            raise RotationDisabledError(f"rotation is not enabled for secret {meta.arn}")
        stages = meta.versions.get(request.token)
        if stages is None:
            raise TokenNotStagedError(
                f"token {request.token} is not a version of secret {meta.arn}"
            )
        if AWSCURRENT not in stages and AWSPENDING not in stages:
            raise TokenNotPendingError(
                f"version {request.token} of secret {meta.arn} is not AWSPENDING"
            )
        return meta

    # -- createSecret ---------------------------------------------------------------------------

    def create_pending(
        self, request: RotationRequest, budget: Budget, meta: SecretMetadata
    ) -> StepResult:
        """Write AWSCURRENT with a new password as the pending version, once per token."""
        current = self._current(request.secret_id)
        self._rotatable_user(current)
        self._require_current_authenticates(current)
        try:
            pending = self._pending(request)
        except SecretValueNotFoundError:
            pass
        else:
            self._require_same_user(current, pending)
            return StepResult("kept_existing", current.username, budget.waited)
        new_password = passwords.generate(self._settings.password_length)
        self._secrets.put_pending(
            request.secret_id,
            request.token,
            current.with_password(new_password),
            request.rotation_token,
        )
        return StepResult("created", current.username, budget.waited)

    # -- setSecret ------------------------------------------------------------------------------

    def set_pending(
        self, request: RotationRequest, budget: Budget, meta: SecretMetadata
    ) -> StepResult:
        """Make the user accept [current, pending]. MemoryDB replaces the whole set."""
        current = self._current(request.secret_id)
        pending = self._pending(request)
        self._require_same_user(current, pending)
        passwords.validate(pending.password)
        user = self._wait_active(current.username, budget, known=self._rotatable_user(current))
        self._require_current_authenticates(current)
        desired = _distinct(current.password, pending.password)
        if user.password_count == len(desired) and self._authenticates(pending):
            # Re-run after success: the set is already exactly `desired`, so skip another
            # propagation.
            return StepResult("already_set", current.username, budget.waited)
        self._set_passwords(current.username, desired, budget)
        return StepResult("set", current.username, budget.waited)

    # -- testSecret -----------------------------------------------------------------------------

    def prove_pending(
        self, request: RotationRequest, budget: Budget, meta: SecretMetadata
    ) -> StepResult:
        """Prove on the cluster that the pending password works and the current one still does."""
        current = self._current(request.secret_id)
        pending = self._pending(request)
        self._require_same_user(current, pending)
        self._wait_active(current.username, budget)
        self._require_pending_authenticates(pending)
        if not self._authenticates(current):
            raise CurrentPasswordRejectedError(
                f"the AWSCURRENT password no longer authenticates as '{current.username}' on "
                f"{_where(current)}; something changed the user outside this rotation"
            )
        return StepResult("proven", current.username, budget.waited)

    # -- finishSecret ---------------------------------------------------------------------------

    def promote_pending(
        self, request: RotationRequest, budget: Budget, meta: SecretMetadata
    ) -> StepResult:
        """Move AWSCURRENT to the token, then drop the old password (policy `drop`)."""
        current_version = meta.version_with(AWSCURRENT)
        if current_version is None:
            raise SecretValueNotFoundError(f"secret {meta.arn} has no AWSCURRENT version")
        current = self._current(request.secret_id)
        pending = self._pending(request)
        self._require_same_user(current, pending)
        # Promote only what authenticates now: testSecret proved it, but the user may have
        # changed since.
        self._require_pending_authenticates(pending)
        self._secrets.promote(request.secret_id, token=request.token, from_version=current_version)
        if self._settings.old_password_policy == "drop-after":
            return self._schedule_drop(request, pending.username, budget, outcome="promoted")
        return self._drop_old(pending, budget, verified=True, outcome="promoted")

    def complete_finish(self, request: RotationRequest, budget: Budget) -> StepResult:
        """finishSecret retried after AWSCURRENT moved: finish dropping the old password."""
        new = Credentials.parse(
            self._secrets.get_value(request.secret_id, stage=AWSCURRENT, version_id=request.token)
        )
        if self._settings.old_password_policy == "keep":
            return StepResult("already_current", new.username, budget.waited)
        user = self._rotatable_user(new)
        if user.password_count <= 1:
            return StepResult("already_current", new.username, budget.waited)
        if self._settings.old_password_policy == "drop-after":
            return self._schedule_drop(request, new.username, budget, outcome="completed")
        return self._drop_old(new, budget, verified=False, outcome="completed_drop")

    def _drop_old(
        self, new: Credentials, budget: Budget, *, verified: bool, outcome: str
    ) -> StepResult:
        if self._settings.old_password_policy == "keep":
            return StepResult(f"{outcome}_kept_old", new.username, budget.waited)
        if not verified:
            # Never leave the user with only a password that does not work.
            self._require_pending_authenticates(new)
        self._set_passwords(new.username, [new.password], budget)
        return StepResult(f"{outcome}_dropped_old", new.username, budget.waited)

    # -- OLD_PASSWORD_POLICY=drop-after (rotation/grace.py) -------------------------------------

    def _schedule_drop(
        self, request: RotationRequest, user: str, budget: Budget, *, outcome: str
    ) -> StepResult:
        """Keep the old password; a one-time schedule drops it when the grace is over."""
        if self._drop_scheduler is None:
            raise SettingsError("OLD_PASSWORD_POLICY=drop-after, but no scheduler is configured")
        created = self._drop_scheduler.schedule_drop(
            request.secret_id, request.token, self._settings.old_password_grace_seconds
        )
        done = "drop_scheduled" if created else "drop_already_scheduled"
        return StepResult(f"{outcome}_{done}", user, budget.waited)

    # -- shared pieces --------------------------------------------------------------------------

    def _current(self, secret_id: str) -> Credentials:
        current = Credentials.parse(self._secrets.get_value(secret_id, stage=AWSCURRENT))
        self._on_user(current.username)
        return current

    def _pending(self, request: RotationRequest) -> Credentials:
        return Credentials.parse(
            self._secrets.get_value(request.secret_id, stage=AWSPENDING, version_id=request.token)
        )

    def _rotatable_user(self, creds: Credentials) -> MemoryDBUser:
        name = creds.username
        if name == "default":
            raise UserRefusedError("the 'default' user has no password and is never rotated")
        allowed = self._settings.allowed_users
        if allowed is not None and name not in allowed:
            raise UserRefusedError(f"user '{name}' is not in ROTATION_ALLOWED_USERS")
        user = self._users.describe(name)
        if user.auth_type != "password":
            raise UserRefusedError(
                f"user '{name}' authenticates with '{user.auth_type}', not passwords: "
                "there is nothing to rotate"
            )
        if creds.user_arn is not None and creds.user_arn != user.arn:
            raise UserRefusedError(
                f"'user_arn' in the secret is not the ARN of user '{name}' ({user.arn})"
            )
        if creds.endpoint is None:
            raise SecretFormatError("'host' is missing: there is no cluster to prove passwords on")
        return user

    def _wait_active(
        self, user_name: str, budget: Budget, known: MemoryDBUser | None = None
    ) -> MemoryDBUser:
        return wait_until_active(self._users, user_name, budget, self._backoff, known=known)

    def _set_passwords(self, user_name: str, new_set: list[SecretStr], budget: Budget) -> None:
        while True:
            try:
                self._users.set_passwords(user_name, new_set)
            except UserBusyError:
                # InvalidUserStateFault: an earlier change is still propagating; wait it out.
                self._wait_active(user_name, budget)
            else:
                return

    def _authenticates(self, creds: Credentials) -> bool:
        return self._verifier.authenticates(_endpoint(creds), creds.username, creds.password)

    def _require_current_authenticates(self, current: Credentials) -> None:
        if not self._authenticates(current):
            raise CurrentPasswordRejectedError(
                f"the AWSCURRENT password does not authenticate as '{current.username}' on "
                f"{_where(current)}: the secret does not hold this user's working password"
            )

    def _require_pending_authenticates(self, pending: Credentials) -> None:
        if not self._authenticates(pending):
            raise PendingPasswordRejectedError(
                f"the new password does not authenticate as '{pending.username}' on "
                f"{_where(pending)}: it is not promoted"
            )

    @staticmethod
    def _require_same_user(current: Credentials, pending: Credentials) -> None:
        if not current.same_user(pending):
            raise UserRefusedError(
                "the AWSPENDING version names a different user or endpoint than AWSCURRENT"
            )


def _endpoint(creds: Credentials) -> Endpoint:
    endpoint = creds.endpoint
    if endpoint is None:
        raise SecretFormatError("'host' is missing: there is no cluster to prove passwords on")
    return endpoint


def _where(creds: Credentials) -> str:
    return f"{creds.host}:{creds.port}"


def _distinct(current: SecretStr, pending: SecretStr) -> list[SecretStr]:
    if current.get_secret_value() == pending.get_secret_value():
        return [current]
    return [current, pending]
