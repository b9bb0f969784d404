"""Overload: offer far more than a variant can serve and check how the excess is shed.

    python loadtests/overload.py                      # sentiment realtime pick, 300 req/s or more, for 10 s
    python loadtests/overload.py --rate 300 --seconds 10 --task sentiment

Starts the service on loopback routing the task's `realtime` pick (as `scenario-serve measure` does), sends
one-item requests with Poisson arrivals at --rate (open loop: the offered load does not slow down when the
server does; by default 300 req/s, or twice the pick's measured highest rate within its bound where that is more, as
`select` recorded it in service/selection.json, so that the rate is far above capacity on a fast machine too), then
checks the server is still ready. Prints per outcome the count and p99 latency, the
answers without Retry-After and other 5xx, and exits 1 when a criterion fails: some answers are 503 (else the
rate was within the machine's capacity and nothing was shed: offer more), every non-200 answer is a 503 with
Retry-After, the p99 of the 503s is under --reject-p99-ms, the admitted (200) answers after the first second keep
within the route's p99 bound (the service sheds: `service.shedding`), and /readyz is 200 afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from loadtests.compare import PEERS, realtime_route, test_items  # noqa: E402
from models.loadgen import Send, poisson_arrivals, poisson_trial, trial_rng  # noqa: E402
from models.measure_plan import MeasureSettings  # noqa: E402
from models.served import ServedVariant  # noqa: E402
from models.served_measure import ServedTrials, request_bodies  # noqa: E402
from service.routing import ScenarioSelection  # noqa: E402

MIN_RATE_RPS = 300.0  # the overload rate
OVER_CAPACITY = 2.0  # the default rate's multiple of the pick's measured highest rate within its bound
# Requests admitted in the overload's first second may wait up to the burst-absorbing bound (max_queue_wait_ms): the
# service cannot tell a burst from an overload before its queue overflows. After it, shedding keeps their latency.
ONSET_S = 1.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(PEERS), default="sentiment")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help=f"offered requests per second (Poisson; default: {MIN_RATE_RPS:g}, or {OVER_CAPACITY:g}x the realtime "
        "pick's measured highest rate within its bound where that is more)",
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--reject-p99-ms", type=float, default=50.0, help="p99 bound of the 503 answers")
    return parser.parse_args(argv)


def default_rate(route: ScenarioSelection) -> float:
    """MIN_RATE_RPS, or OVER_CAPACITY x the rate `select` recorded for the route's pick where that is more: 300 req/s
    is within a fast machine's capacity (an Intel AMX VM served all of it), and a run that sheds nothing tests
    nothing."""
    evidence = route.select_evidence()
    measured = evidence.metrics.throughput_rps if evidence is not None and evidence.metrics is not None else None
    return max(MIN_RATE_RPS, OVER_CAPACITY * measured) if measured else MIN_RATE_RPS


@dataclass
class Answers:
    """Each query's issue time, latency and outcome (the trial's own summary pools them: no time order)."""

    issued: list[float] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)

    def timing(self, send: Send) -> Send:
        """`send`, recording each query's answer here."""

        async def timed(index: int) -> str:
            loop = asyncio.get_running_loop()
            issued = loop.time()
            outcome = await send(index)
            self.issued.append(issued)
            self.latencies_s.append(loop.time() - issued)
            self.outcomes.append(outcome)
            return outcome

        return timed

    def admitted_after(self, onset_s: float) -> dict[str, float | int | None]:
        """The 200 answers to queries issued `onset_s` or more after the first: their count and p99 (ms)."""
        start = min(self.issued, default=0.0)
        latencies = [
            latency * 1000.0
            for issued, latency, outcome in zip(self.issued, self.latencies_s, self.outcomes, strict=True)
            if outcome == "200" and issued - start >= onset_s
        ]
        p99 = round(float(np.percentile(latencies, 99)), 1) if latencies else None
        return {"from_s": onset_s, "count": len(latencies), "p99_ms": p99}


def overload(task: str, variant: str, rate: float, seconds: float) -> dict[str, object]:
    kind = PEERS[task].kind
    answers = Answers()
    with ServedVariant(task, kind, variant) as served:
        trials = ServedTrials(served.url, request_bodies(kind, test_items(task, 500, 0)), MeasureSettings())
        try:
            trials.warm_up()
            arrivals = poisson_arrivals(rate, int(rate * seconds), trial_rng(0, rate))
            result = trials.loop.run_until_complete(poisson_trial(answers.timing(trials.client.send), arrivals))
            missing = trials.client.retry_after_missing
        finally:
            trials.close()
        with urllib.request.urlopen(served.base_url + "/readyz", timeout=5) as response:
            ready = response.status == 200
    return {
        "variant": variant,
        "offered_rps": rate,
        "seconds": seconds,
        **result,
        "admitted_after_onset": answers.admitted_after(ONSET_S),
        "retry_after_missing": missing,
        "ready_after": ready,
    }


SHED = "some requests shed with 503 (the offered rate is above capacity)"


def checks(result: dict[str, object], reject_p99_ms: float, admitted_p99_ms: float | None) -> dict[str, bool]:
    """The criteria, by name. With no 503 at all the offered rate was within the machine's capacity: the shedding
    was not exercised, which fails too (offer more with --rate) rather than passing the 503 checks vacuously.
    `admitted_p99_ms` (the route's p99 bound; None: not checked) bounds the admitted answers' p99 after the onset."""
    outcomes = dict(result["outcomes"])  # type: ignore[call-overload]
    other = {k: v for k, v in outcomes.items() if k not in ("200", "503")}
    reject_p99 = dict(result["p99_ms_by_outcome"]).get("503")  # type: ignore[call-overload]
    verdicts = {
        SHED: "503" in outcomes,
        "only 200 and 503 answers": not other,
        "every 503 has Retry-After": result["retry_after_missing"] == 0,
        f"503 p99 < {reject_p99_ms:g} ms": reject_p99 is not None and reject_p99 < reject_p99_ms,
        "ready afterwards": bool(result["ready_after"]),
    }
    if admitted_p99_ms is not None:
        admitted = dict(result["admitted_after_onset"])  # type: ignore[call-overload]
        within = admitted["p99_ms"] is not None and admitted["p99_ms"] <= admitted_p99_ms
        verdicts[f"200 p99 after the first {ONSET_S:g} s <= {admitted_p99_ms:g} ms (the route's bound)"] = within
    return verdicts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    route = realtime_route(args.task)  # read once: the variant served and the rate it is offered come from one file
    rate = args.rate if args.rate is not None else round(default_rate(route))
    result = overload(args.task, route.variant, rate, args.seconds)
    print(json.dumps(result, indent=2))
    verdicts = checks(result, args.reject_p99_ms, route.constraints.p99_latency_ms)
    for name, ok in verdicts.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    if not verdicts[SHED]:
        print(f"no request was refused: {rate:g} req/s is within this machine's capacity; offer more (--rate)")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
