"""moto's MemoryDB control plane, made as strict as MemoryDB where rotation depends on it.

What moto 5.2.5 lacks and this adds (docs/domain.md, "moto"): the passwords themselves; MemoryDB's
password rules and the limit of two; the `modifying` state after every update, with
InvalidUserStateFault for updates meanwhile; an immutable `default` user; access-string updates
that keep the passwords; and propagation of each user's password set to a real redis-server's ACL
only when the user turns `active` again.

Propagation is evaluated on every control-plane call and on `settle()`: a change becomes visible
on the data plane at the first observation after its delay has passed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis
from moto.core.exceptions import JsonRESTError
from moto.memorydb.exceptions import InvalidParameterValueException
from moto.memorydb.models import MemoryDBBackend


class DataPlane(Protocol):
    """Where propagated sets go: one RedisServer, or the Topology's nodes (sandbox/topology.py)."""

    def apply_user(self, name: str, access_string: str, passwords: Sequence[str]) -> None: ...

    def delete_user(self, name: str) -> None: ...


MAX_PASSWORDS = 2
_FORBIDDEN = frozenset(',"/@ ')


class InvalidUserStateFault(JsonRESTError):
    code = 400

    def __init__(self, msg: str) -> None:
        super().__init__("InvalidUserStateFault", msg)


class InvalidParameterCombinationException(JsonRESTError):
    code = 400

    def __init__(self, msg: str) -> None:
        super().__init__("InvalidParameterCombinationException", msg)


@dataclass
class UserState:
    passwords: list[str]
    access_string: str
    auth_type: str
    ready_at: float | None = None
    """While set, the user is `modifying` until this clock time."""
    lose_propagation: bool = False
    lose_next_update: bool = False
    unpushed: bool = False
    """Propagated while the data plane was down: pushed again at the next observation."""
    history: list[int] = field(default_factory=list)
    """PasswordCount after every accepted change, for invariant checks."""


def check_passwords(passwords: list[Any]) -> None:
    """MemoryDB's rules. Messages never repeat the password."""
    if not passwords:
        raise InvalidParameterValueException("Passwords must contain at least one password.")
    if len(passwords) > MAX_PASSWORDS:
        raise InvalidParameterValueException(f"A user can have at most {MAX_PASSWORDS} passwords.")
    for password in passwords:
        if not isinstance(password, str) or not 16 <= len(password) <= 128:
            raise InvalidParameterValueException(
                "Passwords must be between 16 and 128 characters long."
            )
        if any(ch in _FORBIDDEN or not ch.isprintable() or not ch.isascii() for ch in password):
            raise InvalidParameterValueException(
                'Passwords must be printable and cannot contain , " / @ or spaces.'
            )
    # Inferred, not documented: a set of two equal passwords is refused. The rotator never sends
    # one, so a stricter fake costs nothing and would catch a regression.
    if len(set(passwords)) != len(passwords):
        raise InvalidParameterValueException("Passwords must be distinct.")


def checked_mode(mode: dict[str, Any]) -> tuple[str, list[str]]:
    """An AuthenticationMode's type and passwords, refused as MemoryDB refuses it."""
    auth_type = str(mode.get("Type", "password"))
    passwords = list(mode.get("Passwords") or [])
    if auth_type == "password":
        check_passwords(passwords)
    elif passwords:
        raise InvalidParameterCombinationException(
            f"Passwords are not allowed for authentication type {auth_type}."
        )
    return auth_type, passwords


class FaithfulMemoryDB:
    """Holds the state moto does not, and patches moto's MemoryDBBackend to use it."""

    def __init__(
        self,
        data_plane: DataPlane | None,
        *,
        propagation_delay: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.data_plane = data_plane
        self.propagation_delay = propagation_delay
        self.clock = clock
        self.users: dict[str, UserState] = {}
        self.calls: list[str] = []
        self._lock = threading.RLock()
        self._backends: list[MemoryDBBackend] = []

    # -- knobs for tests ------------------------------------------------------------------------

    def hold_modifying(self, user_name: str, seconds: float) -> None:
        """The user is busy with some other change (no password change) for `seconds`."""
        with self._lock:
            self.users[user_name].ready_at = self.clock() + seconds
            self._set_status(user_name, "modifying")

    def end_hold(self, user_name: str) -> None:
        """The other change finished: the user turns `active` at the next observation."""
        with self._lock:
            if self.users[user_name].ready_at is not None:
                self.users[user_name].ready_at = self.clock()

    def lose_next_propagation(self, user_name: str) -> None:
        """The next update_user turns `active` without ever reaching the data plane."""
        with self._lock:
            self.users[user_name].lose_next_update = True

    def settle(self) -> None:
        """Wait until every change has propagated, then apply it."""
        while True:
            with self._lock:
                pending = [s.ready_at for s in self.users.values() if s.ready_at is not None]
            if not pending:
                break
            time.sleep(max(0.0, max(pending) - self.clock()))
            self.tick()
        # A topology delivers node by node after `active`: settled means every node has it.
        settle_nodes = getattr(self.data_plane, "settle", None)
        if settle_nodes is not None:
            settle_nodes()

    def tick(self) -> None:
        with self._lock:
            now = self.clock()
            for name, state in self.users.items():
                if state.unpushed:
                    self._push(name, state)
                if state.ready_at is not None and state.ready_at <= now:
                    state.ready_at = None
                    if state.lose_propagation:
                        state.lose_propagation = False
                    else:
                        self._push(name, state)
                    self._set_status(name, "active")

    def password_count(self, user_name: str) -> int:
        with self._lock:
            return len(self.users[user_name].passwords)

    def status(self, user_name: str) -> str:
        with self._lock:
            state = self.users[user_name]
            return "modifying" if state.ready_at is not None else "active"

    def control_plane_passwords(self, user_name: str) -> list[str]:
        """The set the control plane holds (and propagates); for the invariant checker."""
        with self._lock:
            return list(self.users[user_name].passwords)

    def has_user(self, user_name: str) -> bool:
        with self._lock:
            return user_name in self.users

    def most_passwords_held(self, user_name: str) -> int:
        """The largest PasswordCount the user ever had, for invariant 2 (never more than two)."""
        with self._lock:
            return max(self.users[user_name].history, default=0)

    # -- the patched backend methods ------------------------------------------------------------

    @contextmanager
    def patched(self) -> Iterator[FaithfulMemoryDB]:
        originals = {
            name: getattr(MemoryDBBackend, name)
            for name in (
                "create_user",
                "describe_users",
                "update_user",
                "delete_user",
                "list_tags",
                "tag_resource",
            )
        }
        faithful = self

        def create_user(
            backend: MemoryDBBackend,
            user_name: str,
            authentication_mode: dict[str, Any],
            access_string: str,
            tags: list[dict[str, str]] | None = None,
        ) -> Any:
            with faithful._lock:
                faithful.calls.append("CreateUser")
                auth_type, passwords = checked_mode(authentication_mode or {})
                user = originals["create_user"](
                    backend, user_name, authentication_mode, access_string, tags
                )
                state = UserState(passwords, access_string, auth_type)
                state.history.append(len(passwords))
                faithful.users[user_name] = state
                faithful._remember(backend)
                faithful._push(user_name, state)
                return user

        def describe_users(
            backend: MemoryDBBackend,
            user_name: str | None = None,
            filters: list[dict[str, Any]] | None = None,
        ) -> Any:
            faithful.tick()
            with faithful._lock:
                faithful.calls.append("DescribeUsers")
                return originals["describe_users"](backend, user_name, filters)

        def update_user(
            backend: MemoryDBBackend,
            user_name: str,
            authentication_mode: dict[str, Any] | None,
            access_string: str | None,
        ) -> Any:
            faithful.tick()
            with faithful._lock:
                faithful.calls.append("UpdateUser")
                if user_name == "default":
                    raise InvalidParameterValueException("The default user cannot be modified.")
                user = originals["describe_users"](backend, user_name, None)[0]
                state = faithful.users[user_name]
                if state.ready_at is not None:
                    raise InvalidUserStateFault(
                        f"User {user_name} is not in active state: modifying."
                    )
                new_type, new_passwords = state.auth_type, state.passwords
                if authentication_mode is not None:
                    new_type, new_passwords = checked_mode(authentication_mode)
                state.passwords = new_passwords
                state.auth_type = new_type
                if access_string is not None:
                    state.access_string = access_string
                    user.access_string = access_string
                user.authentication = (
                    {"Type": "password", "PasswordCount": len(new_passwords)}
                    if new_type == "password"
                    else {"Type": new_type}
                )
                state.history.append(len(new_passwords))
                state.lose_propagation, state.lose_next_update = state.lose_next_update, False
                state.ready_at = faithful.clock() + faithful.propagation_delay
                user.status = "modifying"
                return user

        def delete_user(backend: MemoryDBBackend, user_name: str) -> Any:
            faithful.tick()
            with faithful._lock:
                faithful.calls.append("DeleteUser")
                user = originals["delete_user"](backend, user_name)
                faithful.users.pop(user_name, None)
                if faithful.data_plane is not None:
                    faithful.data_plane.delete_user(user_name)
                return user

        def list_tags(backend: MemoryDBBackend, resource_arn: str) -> Any:
            with faithful._lock:
                faithful.calls.append("ListTags")
                return originals["list_tags"](backend, resource_arn)

        def tag_resource(
            backend: MemoryDBBackend, resource_arn: str, tags: list[dict[str, str]]
        ) -> Any:
            with faithful._lock:
                faithful.calls.append("TagResource")
                return originals["tag_resource"](backend, resource_arn, tags)

        replacements = {
            "list_tags": list_tags,
            "tag_resource": tag_resource,
            "create_user": create_user,
            "describe_users": describe_users,
            "update_user": update_user,
            "delete_user": delete_user,
        }
        for name, function in replacements.items():
            setattr(MemoryDBBackend, name, function)
        try:
            yield self
        finally:
            for name, function in originals.items():
                setattr(MemoryDBBackend, name, function)

    # -- internals ------------------------------------------------------------------------------

    def _remember(self, backend: MemoryDBBackend) -> None:
        if backend not in self._backends:
            self._backends.append(backend)

    def _set_status(self, user_name: str, status: str) -> None:
        for backend in self._backends:
            user = backend.users.get(user_name)
            if user is not None:
                user.status = status

    def _push(self, user_name: str, state: UserState) -> None:
        """Apply the user's set to the data plane; a node that is down gets it when it is back."""
        if self.data_plane is None:
            return
        try:
            if state.auth_type == "password":
                self.data_plane.apply_user(user_name, state.access_string, state.passwords)
            else:
                self.data_plane.apply_user(user_name, "off", [])
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            state.unpushed = True
        else:
            state.unpushed = False
