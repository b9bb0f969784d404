"""Shedding: a tighter admission bound while a variant is overloaded, so that the requests it admits keep their
latency.

A variant's batcher refuses a request whose expected wait exceeds `max_queue_wait_ms` (50 ms by default): a bound
that absorbs bursts, so that a rate within capacity is not refused. Under sustained overload that bound alone lets
every admitted request queue up to it, and the estimate's tail under overload is some times the bound (measured at
twice capacity with 100 ms: admitted p99 about 220 ms). So a refusal at that bound (the queue overflowed) starts
shedding: the batcher's bound becomes the tighter `shedding_queue_wait_ms` (10 ms by default), and the excess is
refused at the door while admitted requests wait little.

Shedding lasts at least `hold_s`, then ends as soon as fewer than MIN_REFUSED_SHARE of the requests of the last
`hold_s` were refused. An offered load f times what the variant serves must be refused at least 1 - 1/f of the time,
so while the overload lasts the share stays above it (about half at twice capacity); once the load is back within
capacity the tight bound refuses only the odd burst, the share falls under it, and the burst-absorbing bound returns.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MIN_REFUSED_SHARE = 0.2  # below it the load is within about 1.25x of capacity: shedding ends


@dataclass
class LoadShedder:
    """Whether one variant sheds, from its admissions and refusals; times are `time.monotonic()` seconds, passed in."""

    hold_s: float  # shortest shedding, and the window its end is judged on; 0: never sheds
    since: float | None = None  # when shedding started; None while not shedding
    _recent: deque[tuple[float, bool]] = field(default_factory=deque)  # (time, refused) of the last hold_s
    _refused: int = 0  # refusals in _recent

    def active(self, now: float) -> bool:
        """Whether the tighter bound applies now (shedding that lasted `hold_s` ends here when the refused share of
        the last `hold_s` fell under MIN_REFUSED_SHARE)."""
        if self.since is not None and now - self.since >= self.hold_s and self.refused_share(now) < MIN_REFUSED_SHARE:
            self.since = None
        return self.since is not None

    def refused_share(self, now: float) -> float:
        """The share of the last `hold_s`'s requests that were refused (0 when none came)."""
        self._forget(now)
        return self._refused / len(self._recent) if self._recent else 0.0

    def record(self, now: float, refused: bool) -> None:
        """A request was admitted or refused."""
        if self.hold_s <= 0:
            return
        self._recent.append((now, refused))
        self._refused += refused
        self._forget(now)

    def overflowed(self, now: float) -> None:
        """A request was refused at the burst-absorbing bound: shedding starts (unless it already runs)."""
        if self.hold_s > 0 and self.since is None:
            self.since = now

    def _forget(self, now: float) -> None:
        horizon = now - self.hold_s
        while self._recent and self._recent[0][0] < horizon:
            _, refused = self._recent.popleft()
            self._refused -= refused
