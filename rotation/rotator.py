"""The four rotation steps over the MemoryDB two-password slot.

Order of operations (why it never breaks a client):
1. createSecret writes the new password only into the AWSPENDING version.
2. setSecret makes the user accept both passwords: [current, pending].
3. testSecret proves the pending password on every node once the change has propagated.
4. finishSecret moves AWSCURRENT first and drops the old password after, so any reader of
   AWSCURRENT holds a password the cluster accepts at every moment.

Where the user lives comes from MemoryDB's control plane on every invocation, never from the
secret: a password is sent only to nodes MemoryDB names, and proven on all of them.

Every step is safe to re-run with the same token after a crash at any point: createSecret keeps a
pending value that exists, setSecret replaces the whole password set (the same set twice is the
same state), and finishSecret completes the drop when the label has already moved. Every refusal
comes before the step's first write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr

from rotation import passwords
from rotation.errors import (
    ClusterUnreachableError,
    CurrentPasswordRejectedError,
    EndpointRefusedError,
    InvalidPasswordError,
    PendingPasswordRejectedError,
    RotationDisabledError,
    RotationError,
    SecretChangedError,
    SecretValueNotFoundError,
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
    MemoryDBUser,
    Outcome,
    RotationRequest,
    SecretMetadata,
    Step,
    Topology,
)
from rotation.ports import CredentialVerifier, SecretStore, UserDirectory
from rotation.proof import Proof, prove
from rotation.settings import Settings
from rotation.waiting import Backoff, Budget, poll, set_when_idle, wait_until_active


@dataclass(frozen=True)
class StepResult:
    outcome: Outcome
    waited_seconds: float
    clusters: tuple[str, ...] = ()
    """The clusters whose every node the step proved passwords on."""
    nodes: int = 0


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

    def handle(self, request: RotationRequest, time_left: float) -> StepResult:
        """Run the guard, then the request's step. `time_left` bounds every wait in seconds."""
        budget = Budget(
            clock=self._clock,
            sleep=self._sleep,
            deadline=self._clock() + min(self._settings.wait_timeout_seconds, time_left),
        )
        meta = self._guard(request)
        if AWSCURRENT in meta.versions[request.token]:
            # Secrets Manager retried after the label moved: only finishSecret has work left.
            if request.step is Step.FINISH:
                return self.complete_finish(request, budget, meta)
            return StepResult(Outcome.NOTHING_TO_DO, budget.waited)
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
        current = self._current(request)
        pending = self._pending_if_written(request)
        if pending is not None:
            self._check_pair(current, pending)
        located = self._locate(current, meta)
        self._check_rules(current, "AWSCURRENT")
        self._require_everywhere(current, located, budget, AWSCURRENT)
        if pending is not None:
            return self._result(Outcome.KEPT_EXISTING, budget, located)
        # Built (and its size checked) before anything is written.
        value = current.with_password(passwords.generate(self._settings.password_length))
        self._claim(located, meta)
        self._secrets.put_pending(request.secret_id, request.token, value, request.rotation_token)
        return self._result(Outcome.CREATED, budget, located)

    # -- setSecret ------------------------------------------------------------------------------

    def set_pending(
        self, request: RotationRequest, budget: Budget, meta: SecretMetadata
    ) -> StepResult:
        """Make the user accept [current, pending]. MemoryDB replaces the whole set."""
        current, pending = self._pair(request)
        located = self._locate(current, meta)
        self._check_rules(current, "AWSCURRENT")
        self._check_rules(pending, "AWSPENDING")
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
        current, pending = self._pair(request)
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
        self, request: RotationRequest, budget: Budget, meta: SecretMetadata
    ) -> StepResult:
        """Move AWSCURRENT to the token, then drop the old password (policy `drop`)."""
        current_version = meta.version_with(AWSCURRENT)
        if current_version is None:
            raise SecretValueNotFoundError(f"secret {meta.arn} has no AWSCURRENT version")
        current, pending = self._pair(request)
        located = self._locate(current, meta)
        # Promote only what authenticates everywhere now: testSecret proved it, but the user may
        # have changed since.
        self._require_everywhere(pending, located, budget, AWSPENDING)
        self._secrets.promote(request.secret_id, token=request.token, from_version=current_version)
        return self._drop_old(
            pending,
            located,
            budget,
            dropped=Outcome.PROMOTED_DROPPED_OLD,
            kept=Outcome.PROMOTED_KEPT_OLD,
        )

    def complete_finish(
        self, request: RotationRequest, budget: Budget, meta: SecretMetadata
    ) -> StepResult:
        """finishSecret retried after AWSCURRENT moved: finish dropping the old password."""
        new = self._credentials(request.secret_id, AWSCURRENT, request.token)
        located = self._locate(new, meta)
        if located.user.password_count <= 1:
            return self._result(Outcome.ALREADY_CURRENT, budget, located)
        return self._drop_old(
            new, located, budget, dropped=Outcome.COMPLETED_DROP, kept=Outcome.ALREADY_CURRENT
        )

    def _drop_old(
        self,
        new: Credentials,
        located: Located,
        budget: Budget,
        *,
        dropped: Outcome,
        kept: Outcome,
    ) -> StepResult:
        if self._settings.old_password_policy == "keep":
            return self._result(kept, budget, located)
        # Never leave the user with only a password that some node does not accept.
        self._require_everywhere(new, located, budget, AWSPENDING)
        set_when_idle(self._users, new.username, [new.password], budget, self._backoff)
        return self._result(dropped, budget, located)

    # -- reading the secret ---------------------------------------------------------------------

    def _credentials(self, secret_id: str, stage: str, version_id: str | None) -> Credentials:
        return Credentials.parse(
            self._secrets.get_value(secret_id, stage=stage, version_id=version_id)
        )

    def _current(self, request: RotationRequest) -> Credentials:
        current = self._credentials(request.secret_id, AWSCURRENT, None)
        self._on_user(current.username)
        return current

    def _pending_if_written(self, request: RotationRequest) -> Credentials | None:
        try:
            return self._credentials(request.secret_id, AWSPENDING, request.token)
        except SecretValueNotFoundError:
            return None

    def _pair(self, request: RotationRequest) -> tuple[Credentials, Credentials]:
        """AWSCURRENT and this token's AWSPENDING, which must differ only in the password."""
        current = self._current(request)
        pending = self._credentials(request.secret_id, AWSPENDING, request.token)
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
        """Every check on the user and its clusters that can refuse; makes no write."""
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
        owner = self._users.owner(user)
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
            raise InvalidPasswordError(
                f"the {label} password breaks MemoryDB's rules: {exc}"
            ) from None

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

    def _result(self, outcome: Outcome, budget: Budget, located: Located) -> StepResult:
        topology = located.topology
        return StepResult(
            outcome,
            budget.waited,
            clusters=tuple(cluster.name for cluster in topology.clusters),
            nodes=len(topology.nodes),
        )


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
