"""service.shedding: when a variant starts and stops shedding (times passed in: no clock, no sleeping)."""

from __future__ import annotations

from service.shedding import MIN_REFUSED_SHARE, LoadShedder


def test_only_an_overflow_starts_shedding_not_admissions_or_refusals_alone() -> None:
    shedder = LoadShedder(hold_s=1.0)
    for tick in range(10):
        shedder.record(tick * 0.01, refused=tick % 2 == 0)
    assert not shedder.active(0.1)
    shedder.overflowed(0.1)
    assert shedder.active(0.1)


def test_shedding_lasts_the_hold_even_when_nothing_is_refused() -> None:
    shedder = LoadShedder(hold_s=1.0)
    shedder.overflowed(0.0)
    for tick in range(1, 10):
        shedder.record(tick * 0.1, refused=False)
        assert shedder.active(tick * 0.1)


def test_after_the_hold_shedding_continues_while_the_refused_share_stays_high() -> None:
    shedder = LoadShedder(hold_s=1.0)
    shedder.overflowed(0.0)
    now = 0.0
    for _ in range(300):  # three seconds of an overload refusing half the requests
        now += 0.01
        shedder.record(now, refused=int(now * 100) % 2 == 0)
        assert shedder.active(now)
    assert shedder.refused_share(now) >= MIN_REFUSED_SHARE


def test_shedding_ends_once_under_a_fifth_of_the_last_hold_was_refused() -> None:
    shedder = LoadShedder(hold_s=1.0)
    shedder.overflowed(0.0)
    now = 0.0
    for _ in range(100):  # the overload's first second: every request refused
        now += 0.01
        shedder.record(now, refused=True)
    ended_at = None
    while ended_at is None and now < 5.0:  # then one request in ten refused: the load is within capacity again
        now += 0.01
        shedder.record(now, refused=int(now * 100) % 10 == 0)
        if not shedder.active(now):
            ended_at = now
    assert ended_at is not None and 1.0 < ended_at < 2.1
    assert shedder.refused_share(ended_at) < MIN_REFUSED_SHARE


def test_a_quiet_hold_ends_shedding_and_a_new_overflow_starts_it_again() -> None:
    shedder = LoadShedder(hold_s=1.0)
    shedder.overflowed(0.0)
    shedder.record(0.5, refused=True)
    assert shedder.active(1.2)  # the refusal at 0.5 s is within the last second
    assert not shedder.active(1.6)  # none came in the last second: the share is 0
    shedder.overflowed(2.0)
    assert shedder.active(2.0)


def test_a_hold_of_zero_never_sheds_and_keeps_no_history() -> None:
    shedder = LoadShedder(hold_s=0.0)
    shedder.record(0.0, refused=True)
    shedder.overflowed(0.0)
    assert not shedder.active(0.0)
    assert shedder.refused_share(0.0) == 0.0
