"""The four rotation steps over the MemoryDB two-password slot, and the end of a drop-after grace.

Order of operations (why it never breaks a client):
1. createSecret writes the new password only into the AWSPENDING version.
2. setSecret makes the user accept both passwords: [current, pending].
3. testSecret proves the pending password on every node once the change has propagated.
4. finishSecret moves AWSCURRENT first and retires the old password after, so any reader of
   AWSCURRENT holds a password the cluster accepts at every moment.

What happens to the old password is one decision, `_retire_old`, taken by finishSecret and by its
retry: `drop` sets the user's passwords to the new one alone, `keep` leaves both until the next
rotation's setSecret replaces the old one, `drop-after` asks the DropScheduler for a one-time
schedule that invokes this function with a DropOldPasswordEvent when the grace is over
(`drop_old_password`). That scheduled event is input like any other: it drops only when the grace
of the rotation it names is what is left to finish, and declines (logging why) otherwise.

Where the user lives comes from MemoryDB's control plane on every invocation, never from the
secret: a password is sent only to nodes MemoryDB names, and proven on all of them.

Every step is safe to re-run with the same token after a crash at any point: createSecret keeps a
pending value that exists, setSecret replaces the whole password set (the same set twice is the
same state), and finishSecret completes the old password's retirement when the label has already
moved. Every refusal comes before the step's first write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

from pydantic import SecretStr

from rotation import passwords
from rotation.errors import (
    ClusterUnreachableError,
    CurrentPasswordRejectedError,
    EndpointRefusedError,
    InvalidPasswordError,
    NoClusterError,
    PendingPasswordRejectedError,
    RefusedError,
    RotationDisabledError,
    RotationError,
    SecretChangedError,
    SecretValueNotFoundError,
    SettingsError,
    TokenNotPendingError,
    TokenNotStagedError,
    UserNotFoundError,
    UserOwnedElsewhereError,
    UserRefusedError,
)
from rotation.models import (
    AWSCURRENT,
    AWSPENDING,
    AWSPREVIOUS,
    Credentials,
    DropOldPasswordEvent,
    Invocation,
    KeptBecause,
    MemoryDBUser,
    OldPassword,
    Outcome,
    RotationRequest,
    SecretMetadata,
    Step,
    Topology,
)
from rotation.ports import CredentialVerifier, DropScheduler, SecretStore, UserDirectory
from rotation.proof import Proof, prove
from rotation.settings import Settings
from rotation.waiting import Backoff, Budget, poll, set_when_idle, wait_until_active


@dataclass(frozen=True)
class StepResult:
    outcome: Outcome
    waited_seconds: float
    clusters: tuple[str, ...] = ()
    """The clusters whose every node the invocation proved passwords on."""
    nodes: int = 0
    old_password: OldPassword | None = None
    """finishSecret and the scheduled drop: what became of the password AWSCURRENT replaced."""
    kept_because: KeptBecause | None = None
    reason: str = ""
    """With `kept_because`: the same in words; also what a drop after an edit of AWSCURRENT
    went by (names and versions only, never a value)."""


@dataclass(frozen=True)
class Located:
    """The user as MemoryDB describes it, where it lives, and which secret has claimed it."""

    user: MemoryDBUser
    topology: Topology
    owner: str | None


class Rotator:
    def __init__(
        self,
        secrets: SecretStore,
        users: UserDirectory,
        verifier: CredentialVerifier,
        settings: Settings,
        *,
        scheduler: DropScheduler | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_user: Callable[[str], None] | None = None,
    ) -> None:
        """`scheduler` is given exactly when OLD_PASSWORD_POLICY=drop-after."""
        if (settings.old_password_policy == "drop-after") != (scheduler is not None):
            raise SettingsError(
                "a DropScheduler is needed with OLD_PASSWORD_POLICY=drop-after, and only then"
            )
        self._secrets = secrets
        self._users = users
        self._verifier = verifier
        self._settings = settings
        self._scheduler = scheduler
        self._clock = clock
        self._sleep = sleep
        self._on_user = on_user or (lambda _name: None)
        self._backoff = Backoff(
            settings.wait_initial_interval_seconds, settings.wait_max_interval_seconds
        )

    def handle(self, request: RotationRequest, invocation: Invocation) -> StepResult:
        """Run the guard, then the request's step, every wait bounded by the invocation's time."""
        budget = self._budget(invocation)
        meta = self._guard(request)
        if AWSCURRENT in meta.versions[request.token]:
            # Secrets Manager retried after the label moved: only finishSecret has work left.
            if request.step is Step.FINISH:
                return self.complete_finish(request, budget, meta, invocation)
            return StepResult(Outcome.NOTHING_TO_DO, budget.waited)
        if request.step is Step.CREATE:
            return self.create_pending(request, budget, meta)
        if request.step is Step.SET:
            return self.set_pending(request, budget, meta)
        if request.step is Step.TEST:
            return self.prove_pending(request, budget, meta)
        return self.promote_pending(request, budget, meta, invocation)

    def _budget(self, invocation: Invocation) -> Budget:
        return Budget(
            clock=self._clock,
            sleep=self._sleep,
            deadline=self._clock()
            + min(self._settings.wait_timeout_seconds, invocation.time_left_seconds),
        )

    def _guard(self, request: RotationRequest) -> SecretMetadata:
        meta = self._secrets.describe(request.secret_id)
        if not meta.rotation_enabled:
            raise RotationDisabledError(f"rotation is not enabled for secret {meta.arn}")
        stages = meta.versions.get(request.token)
        if stages is None:
            raise TokenNotStagedError(
                f"token {request.token} is not a version of secret {meta.arn}"
            )
        if AWSCURRENT in stages:
            return meta
        if AWSPENDING not in stages:
            raise TokenNotPendingError(
                f"version {request.token} of secret {meta.arn} is not AWSPENDING"
            )
        if AWSPREVIOUS in stages:
            raise TokenNotPendingError(
                f"version {request.token} of secret {meta.arn} is both AWSPENDING and "
                "AWSPREVIOUS: finishing it would bring a retired password back as AWSCURRENT"
            )
        return meta

    # -- createSecret ---------------------------------------------------------------------------

    def create_pending(
        self, request: RotationRequest, budget: Budget, meta: SecretMetadata
    ) -> StepResult:
        """Write AWSCURRENT with a new password as the pending version, once per token."""
        current = self._current(meta)
        pending = self._pending_if_written(meta, request.token)
        if pending is not None:
            self._check_pair(current, pending)
        located = self._locate(current, meta)
        self._check_rules(current, AWSCURRENT)
        self._require_everywhere(current, located, budget, AWSCURRENT)
        if pending is not None:
            return self._result(Outcome.KEPT_EXISTING, budget, located)
        # Built (and its size checked) before anything is written.
        value = current.with_password(passwords.generate(self._settings.password_length))
        self._claim(located, meta)
        self._secrets.put_pending(meta.arn, request.token, value, request.rotation_token)
        return self._result(Outcome.CREATED, budget, located)

    # -- setSecret ------------------------------------------------------------------------------

    def set_pending(
        self, request: RotationRequest, budget: Budget, meta: SecretMetadata
    ) -> StepResult:
        """Make the user accept [current, pending]. MemoryDB replaces the whole set."""
        current, pending = self._pair(meta, request.token)
        located = self._locate(current, meta)
        self._check_rules(current, AWSCURRENT)
        self._check_rules(pending, AWSPENDING)
        user = wait_until_active(
            self._users, current.username, budget, self._backoff, known=located.user
        )
        self._require_everywhere(current, located, budget, AWSCURRENT)
        desired = _distinct(current.password, pending.password)
        if user.password_count == len(desired) and self._prove(pending, located, budget).everywhere:
            # Re-run after success: the set is already exactly `desired`, so skip another
            # propagation.
            return self._result(Outcome.ALREADY_SET, budget, located)
        self._claim(located, meta)
        set_when_idle(self._users, current.username, desired, budget, self._backoff)
        return self._result(Outcome.SET, budget, located)

    # -- testSecret -----------------------------------------------------------------------------

    def prove_pending(
        self, request: RotationRequest, budget: Budget, meta: SecretMetadata
    ) -> StepResult:
        """Prove on every node that the pending password works and the current one still does.

        A node may lag behind the user's `active` status: it is asked again, with backoff, until
        the step's time runs out, and only then named in the failure.
        """
        current, pending = self._pair(meta, request.token)
        located = self._locate(current, meta)
        wait_until_active(self._users, current.username, budget, self._backoff, known=located.user)
        proof = poll(
            lambda: self._prove(pending, located, budget),
            lambda found: found.everywhere,
            budget,
            self._backoff,
        )
        if not proof.everywhere:
            raise _not_everywhere(proof, pending, AWSPENDING, "it is not promoted")
        proof = self._prove(current, located, budget)
        if not proof.everywhere:
            raise _not_everywhere(
                proof,
                current,
                AWSCURRENT,
                "it no longer works: something changed the user outside this rotation",
            )
        return self._result(Outcome.PROVEN, budget, located)

    # -- finishSecret ---------------------------------------------------------------------------

    def promote_pending(
        self, request: RotationRequest, budget: Budget, meta: SecretMetadata, invocation: Invocation
    ) -> StepResult:
        """Move AWSCURRENT to the token, then retire the old password."""
        current_version = meta.version_with(AWSCURRENT)
        if current_version is None:
            raise SecretValueNotFoundError(f"secret {meta.arn} has no AWSCURRENT version")
        current, pending = self._pair(meta, request.token)
        located = self._locate(current, meta)
        # Promote only what authenticates everywhere now: testSecret proved it, but the user may
        # have changed since.
        self._require_everywhere(pending, located, budget, AWSPENDING)
        self._secrets.promote(meta.arn, token=request.token, from_version=current_version)
        return self._retire_old(
            Outcome.PROMOTED,
            new=pending,
            located=located,
            budget=budget,
            meta=meta,
            token=request.token,
            invocation=invocation,
            proven=True,
        )

    def complete_finish(
        self, request: RotationRequest, budget: Budget, meta: SecretMetadata, invocation: Invocation
    ) -> StepResult:
        """finishSecret retried after AWSCURRENT moved: retire the old password if still due."""
        new = self._credentials(meta.arn, AWSCURRENT, request.token)
        self._on_user(new.username)
        located = self._locate(new, meta)
        other = _pending_elsewhere(meta, request.token)
        if other is not None:
            # A late retry of an earlier rotation's finishSecret: the password set belongs to the
            # rotation in progress now, whose pending password a drop would take away.
            return self._result(
                Outcome.ALREADY_CURRENT,
                budget,
                located,
                **_declined(
                    KeptBecause.ROTATION_IN_PROGRESS,
                    f"version {other} of secret {meta.arn} is AWSPENDING: its rotation owns the "
                    "password set now",
                ),
            )
        if located.user.password_count <= 1:
            return self._result(
                Outcome.ALREADY_CURRENT, budget, located, OldPassword.ALREADY_DROPPED
            )
        return self._retire_old(
            Outcome.ALREADY_CURRENT,
            new=new,
            located=located,
            budget=budget,
            meta=meta,
            token=request.token,
            invocation=invocation,
        )

    def _retire_old(
        self,
        outcome: Outcome,
        *,
        new: Credentials,
        located: Located,
        budget: Budget,
        meta: SecretMetadata,
        token: str,
        invocation: Invocation,
        proven: bool = False,
    ) -> StepResult:
        """The old-password policy, in one place: drop now, keep, or schedule the drop.

        `proven`: the caller has just proven `new` on every node of `located` (finishSecret,
        right before promoting), so the drop does not prove the same password on the same nodes
        a second time.
        """
        if self._settings.old_password_policy == "keep":
            return self._result(
                outcome,
                budget,
                located,
                **_declined(
                    KeptBecause.POLICY_KEEP,
                    "OLD_PASSWORD_POLICY is keep: the next rotation's setSecret replaces it",
                ),
            )
        if self._scheduler is not None:
            # The ARN Secrets Manager resolved, never the request's SecretId (which may be a
            # name): the scheduled event accepts a full ARN only.
            created = self._scheduler.schedule_drop(
                DropOldPasswordEvent.for_rotation(meta.arn, token),
                grace_seconds=self._settings.old_password_grace_seconds,
                target_arn=invocation.function_arn,
            )
            scheduled = (
                OldPassword.DROP_SCHEDULED if created else OldPassword.DROP_ALREADY_SCHEDULED
            )
            return self._result(outcome, budget, located, scheduled)
        if not proven:
            # Never leave the user with only a password that some node does not accept.
            self._require_everywhere(new, located, budget, AWSPENDING)
        set_when_idle(self._users, new.username, [new.password], budget, self._backoff)
        return self._result(outcome, budget, located, OldPassword.DROPPED)

    # -- the end of a drop-after grace ----------------------------------------------------------

    def drop_old_password(self, event: DropOldPasswordEvent, invocation: Invocation) -> StepResult:
        """Set the user's passwords to AWSCURRENT's alone, if the grace of the rotation that
        `event` names is what is left to finish; otherwise decline and say why.

        Declining is an outcome, not an error: a forged, stale or replayed event must never turn
        into a loop of failed invocations that Scheduler retries for a day. Unreachable nodes
        raise instead, since the retries may outlive a network problem.
        """
        budget = self._budget(invocation)
        meta = self._secrets.describe(event.secret_id)
        declined = self._drop_declined(meta, event.token)
        if declined is not None:
            return StepResult(Outcome.GRACE_OVER, budget.waited, **declined)
        current = self._current(meta)
        try:
            located = self._locate(current, meta)
        except (NoClusterError, EndpointRefusedError) as exc:
            refusal: tuple[KeptBecause, str] = (KeptBecause.CURRENT_NOT_PROVEN, str(exc))
        except RefusedError as exc:
            # The rotation's own refusals (allow-list, owner, password type...) decline here.
            refusal = (KeptBecause.USER_REFUSED, str(exc))
        else:
            return self._drop_to(current, located, budget, meta, event.token)
        return StepResult(Outcome.GRACE_OVER, budget.waited, **_declined(*refusal))

    def _drop_to(
        self,
        current: Credentials,
        located: Located,
        budget: Budget,
        meta: SecretMetadata,
        token: str,
    ) -> StepResult:
        declined: list[StepResult] = []

        def still_wanted(after_busy: bool) -> bool:
            """Before every attempt; after a busy answer something else changed the user, so
            everything is checked again."""
            user = wait_until_active(
                self._users,
                current.username,
                budget,
                self._backoff,
                known=None if after_busy else located.user,
            )
            if user.password_count < 2:
                declined.append(
                    self._result(Outcome.GRACE_OVER, budget, located, OldPassword.ALREADY_DROPPED)
                )
                return False
            unproven = self._unproven(current, located, budget)
            if unproven is not None:
                declined.append(
                    self._result(
                        Outcome.GRACE_OVER,
                        budget,
                        located,
                        **_declined(KeptBecause.CURRENT_NOT_PROVEN, unproven),
                    )
                )
                return False
            # The labels again, right before the write: a rotation that started meanwhile owns
            # the password set now, and its setSecret must not lose the pending password to us.
            again = self._drop_declined(self._secrets.describe(meta.arn), token)
            if again is not None:
                declined.append(self._result(Outcome.GRACE_OVER, budget, located, **again))
                return False
            return True

        if set_when_idle(
            self._users,
            current.username,
            [current.password],
            budget,
            self._backoff,
            still_wanted=still_wanted,
        ):
            edited = AWSCURRENT not in meta.versions.get(token, ())
            return self._result(
                Outcome.GRACE_OVER,
                budget,
                located,
                OldPassword.DROPPED,
                # Said because the log would otherwise show a drop for a version that is no
                # longer AWSCURRENT, which reads like the superseded case it is not.
                reason=(
                    f"AWSCURRENT of secret {meta.arn} was edited during the grace and still holds "
                    f"the password version {token} set: the grace ended as scheduled"
                )
                if edited
                else "",
            )
        return declined[-1]

    def _drop_declined(self, meta: SecretMetadata, token: str) -> _Declined | None:
        """Why a drop for version `token` is not (or no longer) due; None when it is."""
        if self._settings.old_password_policy == "keep":
            # Switching to `keep` means "keep": schedules created before the switch decline too.
            return _declined(
                KeptBecause.POLICY_KEEP,
                "OLD_PASSWORD_POLICY is keep: the next rotation's setSecret replaces it",
            )
        if not meta.rotation_enabled:
            return _declined(
                KeptBecause.ROTATION_DISABLED, f"rotation is not enabled for secret {meta.arn}"
            )
        pending = _pending_elsewhere(meta, token)
        if pending is not None:
            return _declined(
                KeptBecause.ROTATION_IN_PROGRESS,
                f"version {pending} of secret {meta.arn} is AWSPENDING",
            )
        stages = meta.versions.get(token, ())
        if AWSCURRENT in stages:
            return None
        if AWSPREVIOUS in stages and self._same_password_as_current(meta, token):
            # AWSCURRENT was edited during the grace (a key added, say) but still holds the
            # password this rotation set: that password is still the one to keep.
            return None
        return _declined(
            KeptBecause.SUPERSEDED,
            f"version {token} is no longer AWSCURRENT of secret {meta.arn}, and AWSCURRENT "
            "holds another password: a later rotation owns the old password's fate",
        )

    def _same_password_as_current(self, meta: SecretMetadata, token: str) -> bool:
        ours = self._credentials(meta.arn, AWSPREVIOUS, token).password.get_secret_value()
        return self._current(meta).password.get_secret_value() == ours

    def _unproven(self, current: Credentials, located: Located, budget: Budget) -> str | None:
        """Why AWSCURRENT's password is not proven on every node MemoryDB names (None: it is).

        Unreachable nodes raise: the invocation's retries may outlive a network problem, while a
        refusal means the user was changed outside rotation.
        """
        proof = self._prove(current, located, budget)
        if proof.everywhere:
            return None
        if proof.rejected:
            return f"the AWSCURRENT password is not accepted everywhere: {proof.describe()}"
        raise ClusterUnreachableError(
            f"cannot prove the AWSCURRENT password as '{current.username}' on every node "
            f"({proof.describe()}); the old password stays until a retry proves it"
        )

    # -- reading the secret ---------------------------------------------------------------------

    def _credentials(self, secret_arn: str, stage: str, version_id: str | None) -> Credentials:
        return Credentials.parse(
            self._secrets.get_value(secret_arn, stage=stage, version_id=version_id)
        )

    def _current(self, meta: SecretMetadata) -> Credentials:
        current = self._credentials(meta.arn, AWSCURRENT, None)
        self._on_user(current.username)
        return current

    def _pending_if_written(self, meta: SecretMetadata, token: str) -> Credentials | None:
        try:
            return self._credentials(meta.arn, AWSPENDING, token)
        except SecretValueNotFoundError:
            return None

    def _pair(self, meta: SecretMetadata, token: str) -> tuple[Credentials, Credentials]:
        """AWSCURRENT and this token's AWSPENDING, which must differ only in the password."""
        current = self._current(meta)
        pending = self._credentials(meta.arn, AWSPENDING, token)
        self._check_pair(current, pending)
        return current, pending

    @staticmethod
    def _check_pair(current: Credentials, pending: Credentials) -> None:
        identity = ("username", "user_arn", "host", "port", "ssl")
        if any(getattr(current, name) != getattr(pending, name) for name in identity):
            raise UserRefusedError(
                "the AWSPENDING version names a different user or endpoint than AWSCURRENT"
            )
        changed = current.differing_keys(pending)
        if changed:
            raise SecretChangedError(
                f"AWSCURRENT and AWSPENDING differ in {', '.join(changed)}: AWSCURRENT was edited "
                "after createSecret copied it, and finishing would lose the edit. Remove "
                "AWSPENDING from this version and rotate again (the next copy carries the edit)"
            )

    # -- where the user lives, and whether this secret may rotate it ----------------------------

    def _locate(self, creds: Credentials, meta: SecretMetadata) -> Located:
        """Every check on the user and its clusters that can refuse, in one place for every step
        and for the scheduled drop; makes no write. Raises a RefusedError."""
        name = creds.username
        if name == "default":
            raise UserRefusedError("the 'default' user has no password and is never rotated")
        allowed = self._settings.allowed_users
        if allowed is not None and name not in allowed:
            raise UserRefusedError(f"user '{name}' is not in ROTATION_ALLOWED_USERS")
        user = self._users.describe(name)
        if user.status == "deleting":
            raise UserNotFoundError(f"user '{name}' is being deleted")
        if user.auth_type != "password":
            raise UserRefusedError(
                f"user '{name}' authenticates with '{user.auth_type}', not passwords: "
                "there is nothing to rotate"
            )
        if user.disabled:
            raise UserRefusedError(
                f"user '{name}' is disabled (its access string says 'off'): no password can "
                "authenticate, so none can be proven"
            )
        if creds.user_arn is not None and creds.user_arn != user.arn:
            raise UserRefusedError(
                f"'user_arn' in the secret is not the ARN of user '{name}' ({user.arn})"
            )
        # One ListTags answers both the fleet tag and the owner.
        tags = self._users.tags(user)
        required = self._settings.user_tag
        if required is not None and tags.tags.get(required[0]) != required[1]:
            raise UserRefusedError(
                f"user '{name}' does not carry the tag {required[0]}={required[1]} that "
                "ROTATION_USER_TAG requires"
            )
        owner = tags.owner
        if owner is not None and owner != meta.arn:
            raise UserOwnedElsewhereError(
                f"user '{name}' is rotated by secret {owner}; secret {meta.arn} may not rotate "
                "it too (the two-password slot holds one rotation's passwords)"
            )
        topology = self._users.topology(user)
        _check_endpoints(creds, topology)
        return Located(user, topology, owner)

    def _claim(self, located: Located, meta: SecretMetadata) -> None:
        if located.owner is None:
            self._users.claim(located.user, meta.arn)

    @staticmethod
    def _check_rules(creds: Credentials, label: str) -> None:
        try:
            passwords.validate(creds.password)
        except InvalidPasswordError as exc:
            problem = str(exc)
        else:
            return
        raise InvalidPasswordError(f"the {label} password breaks MemoryDB's rules: {problem}")

    # -- proving passwords ----------------------------------------------------------------------

    def _prove(self, creds: Credentials, located: Located, budget: Budget) -> Proof:
        return prove(
            self._verifier,
            located.topology.nodes,
            creds.username,
            creds.password,
            # Each connection has its own timeout; the whole proof may also use what is left of
            # the step's waiting time.
            seconds=max(0.0, budget.remaining()) + self._verifier.timeout_seconds,
            clock=self._clock,
        )

    def _require_everywhere(
        self, creds: Credentials, located: Located, budget: Budget, stage: str
    ) -> None:
        proof = self._prove(creds, located, budget)
        if not proof.everywhere:
            consequence = (
                "the secret does not hold this user's working password"
                if stage == AWSCURRENT
                else "it is not promoted and the old password stays"
            )
            raise _not_everywhere(proof, creds, stage, consequence)

    def _result(
        self,
        outcome: Outcome,
        budget: Budget,
        located: Located,
        old_password: OldPassword | None = None,
        *,
        kept_because: KeptBecause | None = None,
        reason: str = "",
    ) -> StepResult:
        topology = located.topology
        return StepResult(
            outcome,
            budget.waited,
            clusters=tuple(cluster.name for cluster in topology.clusters),
            nodes=len(topology.nodes),
            old_password=old_password,
            kept_because=kept_because,
            reason=reason,
        )


class _Declined(TypedDict):
    old_password: OldPassword
    kept_because: KeptBecause
    reason: str


def _declined(because: KeptBecause, reason: str) -> _Declined:
    return {"old_password": OldPassword.KEPT, "kept_because": because, "reason": reason}


def _pending_elsewhere(meta: SecretMetadata, token: str) -> str | None:
    """The version another rotation has staged as AWSPENDING, if any."""
    pending = meta.version_with(AWSPENDING)
    return pending if pending is not None and pending != token else None


def _not_everywhere(
    proof: Proof, creds: Credentials, stage: str, consequence: str
) -> RotationError:
    """The error for a proof that failed: unreachable nodes alone are a network problem, any
    refusal is a password problem of the stage's kind."""
    where = f"as '{creds.username}' on every node ({proof.describe()})"
    if not proof.rejected and proof.unreachable:
        return ClusterUnreachableError(f"the {stage} password could not be proven {where}")
    error = CurrentPasswordRejectedError if stage == AWSCURRENT else PendingPasswordRejectedError
    return error(f"the {stage} password does not authenticate {where}: {consequence}")


def _check_endpoints(creds: Credentials, topology: Topology) -> None:
    """The secret's host (optional) must be an endpoint of a cluster that holds the user."""
    for cluster in topology.clusters:
        if not cluster.tls:
            raise EndpointRefusedError(
                f"cluster '{cluster.name}' does not use TLS: a password is never sent in clear"
            )
    if creds.host is None:
        return
    serving = topology.cluster_serving(creds.host, creds.port)
    if serving is None:
        raise EndpointRefusedError(
            "'host' and 'port' in the secret are not an endpoint of any cluster that MemoryDB "
            f"says holds user '{creds.username}' ({topology.describe()}); no connection was made"
        )
    if creds.ssl != serving.tls:
        raise EndpointRefusedError(
            f"'ssl' in the secret disagrees with cluster '{serving.name}' (TLSEnabled is "
            f"{str(serving.tls).lower()})"
        )


def _distinct(current: SecretStr, pending: SecretStr) -> list[SecretStr]:
    if current.get_secret_value() == pending.get_secret_value():
        return [current]
    return [current, pending]
