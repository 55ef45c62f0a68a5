from __future__ import annotations

import pytest

from rotation.errors import UserNotFoundError, WaitTimeoutError
from rotation.models import MemoryDBUser
from rotation.waiting import Backoff, Budget, wait_until_active
from tests.unit.fakes import FakeClock, FakeUserDirectory


def test_interval_grows_with_the_time_waited_between_floor_and_ceiling() -> None:
    backoff = Backoff(initial=0.5, maximum=5.0)
    assert backoff.interval(0) == 0.5
    assert backoff.interval(20) == 2.0
    assert backoff.interval(600) == 5.0


class PropagatingUser(FakeUserDirectory):
    """`modifying` until the fake clock reaches `ready_at`."""

    def __init__(self, clock: FakeClock, ready_at: float) -> None:
        super().__init__()
        self.clock = clock
        self.ready_at = ready_at

    def describe(self, user_name: str) -> MemoryDBUser:
        self.statuses = [] if self.clock.now >= self.ready_at else ["modifying"]
        return super().describe(user_name)


@pytest.mark.parametrize("propagation", [1.0, 5.0, 30.0, 300.0])
def test_overshoot_stays_near_a_tenth_of_the_wait(propagation: float) -> None:
    clock = FakeClock()
    users = PropagatingUser(clock, clock.now + propagation)
    budget = Budget(clock, clock.sleep, deadline=clock.now + 900)

    wait_until_active(users, "app-user", budget, Backoff(0.5, 5.0))

    assert propagation <= budget.waited <= propagation * 1.15 + 0.5
    # A tenth of the elapsed time between polls: about 30 calls for 30 s, 90 for 300 s.
    assert users.describes <= 30 + propagation / 5


def test_deleting_user_stops_the_wait() -> None:
    clock = FakeClock()
    users = FakeUserDirectory(statuses=["deleting"])
    with pytest.raises(UserNotFoundError, match="being deleted"):
        wait_until_active(
            users, "app-user", Budget(clock, clock.sleep, clock.now + 60), Backoff(0.5, 5)
        )


def test_wait_never_sleeps_past_the_deadline() -> None:
    clock = FakeClock()
    users = FakeUserDirectory(statuses=["modifying"] * 1000)
    budget = Budget(clock, clock.sleep, deadline=clock.now + 7.3)
    with pytest.raises(WaitTimeoutError):
        wait_until_active(users, "app-user", budget, Backoff(2, 5))
    assert clock.now == pytest.approx(1000 + 7.3)
    assert budget.waited == pytest.approx(7.3)


def test_a_pause_past_the_deadline_sleeps_not_at_all() -> None:
    clock = FakeClock()
    budget = Budget(clock=clock, sleep=clock.sleep, deadline=clock() - 1)

    budget.pause(5)

    assert (budget.waited, clock.sleeps) == (0.0, [])
