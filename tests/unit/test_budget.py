"""`service.budget`: a request's pixel lease against its own limit and the worker's shared budget."""

from __future__ import annotations

import threading

import pytest

from service.budget import LeaseClosed, PixelBudget, PixelLease
from service.errors import ImageBudgetExhausted, PayloadTooLarge


def test_lease_checks_the_request_limit_then_the_shared_budget() -> None:
    budget = PixelBudget(100)
    first, second = PixelLease(budget, 60), PixelLease(budget, 60)
    first.take(50, "images[0]")
    with pytest.raises(PayloadTooLarge) as too_many:
        first.take(11, "images[1]")
    assert (too_many.value.field, too_many.value.limit) == ("images", 60)
    second.take(50, "images[0]")
    with pytest.raises(ImageBudgetExhausted) as busy:
        second.take(1, "images[1]")
    assert (busy.value.status, busy.value.limit) == (503, 100)
    first.release()
    second.take(10, "images[1]")
    second.release()
    assert budget.held == 0


def test_a_released_lease_takes_nothing_more() -> None:
    budget = PixelBudget(100)
    lease = PixelLease(budget, 100)
    lease.take(10, "images[0]")
    lease.release()
    with pytest.raises(LeaseClosed):
        lease.take(10, "images[1]")
    assert budget.held == 0


def test_budget_is_consistent_under_threads() -> None:
    budget = PixelBudget(1000)

    def churn() -> None:
        for _ in range(2000):
            if budget.try_take(7):
                budget.give_back(7)

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert budget.held == 0
