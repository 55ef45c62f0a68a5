"""Bounded waiting: for a MemoryDB user to finish applying a change, and for nodes to catch up.

boto3 has no waiter for MemoryDB users, so this polls describe_users. The interval grows with the
time already waited (a tenth of it, between the configured floor and ceiling): a short propagation
is noticed quickly and a long one costs few calls, and the overshoot stays near 10 % of the wait.
Every loop here sleeps between attempts and stops at the budget's deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pydantic import SecretStr

from rotation.errors import UserBusyError, UserNotFoundError, WaitTimeoutError
from rotation.models import MemoryDBUser
from rotation.ports import UserDirectory

_GROWTH = 0.1
T = TypeVar("T")


@dataclass
class Budget:
    """The time one invocation may still spend waiting, on an injected clock."""

    clock: Callable[[], float]
    sleep: Callable[[float], None]
    deadline: float
    waited: float = 0.0

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def pause(self, seconds: float) -> None:
        """Sleep `seconds`, cut to what is left; the time counts as waited."""
        seconds = min(seconds, self.remaining())
        if seconds > 0:
            start = self.clock()
            self.sleep(seconds)
            self.waited += self.clock() - start


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
    while True:
        user = known if known is not None else users.describe(user_name)
        known = None
        if user.active:
            return user
        if user.status == "deleting":
            raise UserNotFoundError(f"user '{user_name}' is being deleted")
        if budget.remaining() <= 0:
            raise WaitTimeoutError(
                f"user '{user_name}' was still '{user.status}' after waiting "
                f"{budget.clock() - start:.1f}s; the step stopped before the Lambda's time "
                "ran out and Secrets Manager will retry it"
            )
        budget.pause(backoff.interval(budget.clock() - start))


def set_when_idle(
    users: UserDirectory,
    user_name: str,
    new_set: Sequence[SecretStr],
    budget: Budget,
    backoff: Backoff,
    *,
    still_wanted: Callable[[bool], bool] | None = None,
) -> bool:
    """UpdateUser, waiting out InvalidUserStateFault with backoff; True when it was written.

    DescribeUsers can say `active` while UpdateUser still answers InvalidUserStateFault, so a busy
    answer is always followed by a pause before the next attempt, never by a retry at once.
    `still_wanted(after_busy)` runs before every attempt (after_busy: an earlier attempt was
    refused as busy, so something else changed the user meanwhile); False ends the loop with
    nothing written. The scheduled drop uses it to read the labels again before each attempt.
    """
    start = budget.clock()
    after_busy = False
    while True:
        if still_wanted is not None and not still_wanted(after_busy):
            return False
        if _written(users, user_name, new_set):
            return True
        if budget.remaining() <= 0:
            raise WaitTimeoutError(
                f"user '{user_name}' still refused the update as busy after "
                f"{budget.clock() - start:.1f}s; the step stopped before the Lambda's time "
                "ran out and will be retried"
            )
        budget.pause(backoff.interval(budget.clock() - start))
        wait_until_active(users, user_name, budget, backoff)
        after_busy = True


def _written(users: UserDirectory, user_name: str, new_set: Sequence[SecretStr]) -> bool:
    """False on InvalidUserStateFault; the caller's error is raised outside this `except`."""
    try:
        users.set_passwords(user_name, new_set)
    except UserBusyError:
        return False
    return True


def poll(
    attempt: Callable[[], T], done: Callable[[T], bool], budget: Budget, backoff: Backoff
) -> T:
    """Call `attempt` until `done` says so or the budget runs out; the last result either way."""
    start = budget.clock()
    while True:
        result = attempt()
        if done(result) or budget.remaining() <= 0:
            return result
        budget.pause(backoff.interval(budget.clock() - start))
