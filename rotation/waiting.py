"""Bounded waiting for a MemoryDB user to finish applying a change.

boto3 has no waiter for MemoryDB users, so this polls describe_users. The interval grows with the
time already waited (a tenth of it, between the configured floor and ceiling): a short propagation
is noticed quickly and a long one costs few calls, and the overshoot stays near 10 % of the wait.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rotation.errors import UserNotFoundError, WaitTimeoutError
from rotation.models import MemoryDBUser
from rotation.ports import UserDirectory

_GROWTH = 0.1


@dataclass
class Budget:
    """The time one invocation may still spend waiting, on an injected clock."""

    clock: Callable[[], float]
    sleep: Callable[[float], None]
    deadline: float
    waited: float = 0.0

    def remaining(self) -> float:
        return self.deadline - self.clock()


@dataclass(frozen=True)
class Backoff:
    initial: float
    maximum: float

    def interval(self, elapsed: float) -> float:
        return min(self.maximum, max(self.initial, elapsed * _GROWTH))


def wait_until_active(
    users: UserDirectory,
    user_name: str,
    budget: Budget,
    backoff: Backoff,
    *,
    known: MemoryDBUser | None = None,
) -> MemoryDBUser:
    """Poll until the user is `active`. `known` is a description just read, saving one call."""
    start = budget.clock()
    try:
        while True:
            user = known if known is not None else users.describe(user_name)
            known = None
            if user.active:
                return user
            if user.status == "deleting":
                raise UserNotFoundError(f"user '{user_name}' is being deleted")
            remaining = budget.remaining()
            if remaining <= 0:
                raise WaitTimeoutError(
                    f"user '{user_name}' was still '{user.status}' after waiting "
                    f"{budget.clock() - start:.1f}s; the step stopped before the Lambda's time "
                    "ran out and Secrets Manager will retry it"
                )
            budget.sleep(min(backoff.interval(budget.clock() - start), remaining))
    finally:
        budget.waited += budget.clock() - start
