"""Live against predicted: serve the checked-in selection as `make run` does, drive every server scenario at its
target rate, and compare the live p50/p95/p99 with what `scenario-serve select` recorded for the pick.

    python loadtests/live_check.py                    # 3 trials per scenario, each >= 30 s and >= 1,200 queries
    python loadtests/live_check.py --seconds 10 --queries 100 --trials 1
    python loadtests/live_check.py --alone            # each pick served alone, as `measure` serves it
    python loadtests/live_check.py --route digits/realtime   # only that route (repeatable)

One `bentoml serve service.app:ScenarioService` on loopback with service/selection.json (every routed variant
loaded, the default workers and threads); each trial is open-loop Poisson at the scenario's `target_rps` with the
scenario's test items, sized as `measure`'s repeats at that rate (at least 30 s and 1,200 queries: 60 s at 20 rps,
so the p99s compared are each the 12th slowest of a trial, not the 6th). With --alone, each pick gets its own
server whose routing file names only it (what `measure` does), which separates a gap the full service adds from
drift of the machine. A scenario passes when its trials answered every query 200 with the p99 of their latencies
pooled within its bound, and the median of the trials' own p99s is within --tolerance (15%) of the p99 select
recorded, which is the same statistic of `measure`'s repeats at that rate: each trial holds >= 1,200 queries, so its
p99 is steady, and one trial in a slower minute (of either run) cannot set a side's figure. Exits 1 if any fails.

Beside each route's latencies, the inference thread's milliseconds per item during its trials (read from the
server's own histograms before and after each trial) and during `measure`'s trials at the same rate (select records
it with the p99): the runtime's own speed at that load, without HTTP or queueing, now and then. When the live p99
misses the prediction while that gauge moved as much, the machine changed between the two runs, not the served path.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from loadtests.compare import test_items  # noqa: E402
from models.loadgen import Body  # noqa: E402
from models.measure_plan import MeasureSettings  # noqa: E402
from models.report.format import fmt_p99_spread  # noqa: E402
from models.served import ENDPOINTS, MEASURE_SCENARIO, BentoServer, ServedVariant  # noqa: E402
from models.served_measure import ServedTrials, request_bodies  # noqa: E402
from service.contracts.evidence import ScenarioMetrics  # noqa: E402
from service.contracts.measurements import ServerTrial  # noqa: E402
from service.routing import ScenarioSelection, Selection, SelectionError, load_selection  # noqa: E402


class ServerRoute(BaseModel):
    task: str
    kind: str
    scenario: str
    route: ScenarioSelection

    @property
    def key(self) -> str:
        return f"{self.task}/{self.scenario}"


class RuntimeGauge(BaseModel):
    """The pick's inference-thread ms per item at the target rate: during `measure`'s trials, and now."""

    at_measure_ms: float | None = None
    now_ms: float | None = None

    @property
    def change_pct(self) -> float | None:
        if self.at_measure_ms is None or self.now_ms is None:
            return None
        return 100 * (self.now_ms - self.at_measure_ms) / self.at_measure_ms

    def text(self) -> str:
        change = self.change_pct
        return f"{ms(self.now_ms)} / {ms(self.at_measure_ms)}" + ("" if change is None else f" ({change:+.0f}%)")


class RouteCheck(BaseModel):
    """One server scenario: what select predicted for its pick, what the live server delivered, the verdict."""

    variant: str
    target_rps: float
    p99_bound_ms: float
    predicted: ScenarioMetrics  # select's record of the pick
    live: ServerTrial
    p99_off_pct: float
    within_bound: bool
    within_tolerance: bool
    runtime: RuntimeGauge = RuntimeGauge()

    def table_row(self, key: str) -> str:
        p, lv = self.predicted, self.live
        verdict = "met" if self.within_bound else "BREACHED"
        return (
            f"| {key} | {self.variant} | {self.target_rps:g} rps | {ms(p.p50_ms)} / {ms(p.p95_ms)} / "
            f"{fmt_p99_spread(p.p99_ms, p.p99_spread_ms, p.p99_pooled_ms)} | {lv.p50_ms:.1f} / {lv.p95_ms:.1f} / "
            f"{fmt_p99_spread(lv.median_repeat_p99_ms, lv.p99_spread_ms, lv.p99_ms)} | {self.p99_off_pct:+.0f}% | "
            f"p99 <= {self.p99_bound_ms:g} ms: {verdict} | {self.runtime.text()} |"
        )


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


TABLE_HEADER = (
    "| route | variant | rate | predicted p50 / p95 / p99 (ms) | live p50 / p95 / p99 (ms) | median p99 off | bound "
    "| inference thread ms per item now / at measure |\n"
    "|---|---|---|---|---|---|---|---|"
)


def server_scenarios(selection: Selection) -> list[ServerRoute]:
    """Every server-pattern route."""
    return [
        ServerRoute(task=task, kind=entry.kind, scenario=name, route=route)
        for task, entry in selection.tasks.items()
        for name, route in entry.scenarios.items()
        if route.constraints.load_pattern == "server"
    ]


def chosen(routes: list[ServerRoute], keys: list[str] | None) -> list[ServerRoute]:
    """The routes named by --route (all when none is); a name that is not a server route is an error."""
    if not keys:
        return routes
    unknown = sorted(set(keys) - {route.key for route in routes})
    if unknown:
        known = ", ".join(route.key for route in routes)
        raise SystemExit(f"live_check: no server route {', '.join(unknown)}; the server routes are {known}")
    return [route for route in routes if route.key in keys]


def predicted_metrics(route: ScenarioSelection) -> tuple[ScenarioMetrics, float]:
    """What select recorded for the pick, and its p99; a route without select's evidence cannot be checked."""
    evidence = route.select_evidence()
    if evidence is None or evidence.metrics is None or evidence.metrics.p99_ms is None:
        raise SystemExit(f"route to {route.variant} carries no p99 from select: run `scenario-serve select` first")
    return evidence.metrics, evidence.metrics.p99_ms


def server_load(route: ScenarioSelection) -> tuple[float, float]:
    """(target rate, p99 bound) of a server route; a route that lacks either cannot be checked."""
    rate, bound = route.constraints.target_rps, route.constraints.p99_latency_ms
    if rate is None or bound is None:
        raise SystemExit(f"route to {route.variant} records no target_rps or p99_latency_ms: run select again")
    return rate, bound


def check(route: ScenarioSelection, live: ServerTrial, tolerance: float) -> RouteCheck:
    predicted, predicted_p99 = predicted_metrics(route)
    rate, bound = server_load(route)
    off = (live.median_repeat_p99_ms - predicted_p99) / predicted_p99
    return RouteCheck(
        variant=route.variant,
        target_rps=rate,
        p99_bound_ms=bound,
        predicted=predicted,
        live=live,
        p99_off_pct=round(100 * off, 1),
        within_bound=live.p99_ms <= bound and set(live.outcomes) == {"200"},
        within_tolerance=abs(off) <= tolerance,
        runtime=RuntimeGauge(at_measure_ms=predicted.runtime_ms_per_item, now_ms=live.runtime_ms_per_item),
    )


def endpoints(selection_path: Path, routes: list[ServerRoute], alone: bool) -> Iterator[tuple[ServerRoute, str, str]]:
    """(route, URL, scenario to ask for), each while its server runs: one full service for every route, or with
    `alone` one server per route whose routing file names only the pick (as measure serves it)."""
    if alone:
        for route in routes:
            with ServedVariant(route.task, route.kind, route.route.variant) as variant:
                yield route, variant.url, MEASURE_SCENARIO
        return
    with BentoServer("service.app:ScenarioService", {"SCENARIO_SERVE_SELECTION_PATH": str(selection_path)}) as server:
        for route in routes:
            yield route, server.base_url + ENDPOINTS[route.kind], route.scenario


def live_trial(url: str, bodies: list[Body], rate: float, settings: MeasureSettings) -> ServerTrial:
    """The repeated trials at `rate`, after a warm-up."""
    trials = ServedTrials(url, bodies, settings)
    try:
        trials.warm_up()
        return trials.at_target(rate, 1e9)
    finally:
        trials.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--selection", type=Path, default=REPO_ROOT / "service" / "selection.json")
    sized = MeasureSettings()  # measure's repeats at the target rate, whose median p99 is the prediction
    parser.add_argument("--seconds", type=float, default=sized.target_seconds, help="shortest trial (%(default)s)")
    parser.add_argument(
        "--queries", type=int, default=sized.target_queries, help="fewest queries per trial (%(default)s)"
    )
    parser.add_argument("--trials", type=int, default=sized.repeats, help="trials per scenario (median p99 counts)")
    parser.add_argument("--tolerance", type=float, default=0.15, help="relative p99 difference allowed")
    parser.add_argument("--alone", action="store_true", help="serve each pick alone, as `measure` does")
    parser.add_argument("--route", action="append", metavar="TASK/SCENARIO", help="check only this route")
    args = parser.parse_args(argv)
    try:
        selection = load_selection(args.selection)
    except SelectionError as exc:
        raise SystemExit(f"live_check: {exc}") from None
    settings = MeasureSettings(target_seconds=args.seconds, target_queries=args.queries, repeats=args.trials)
    results: dict[str, RouteCheck] = {}
    for route, url, scenario in endpoints(args.selection, chosen(server_scenarios(selection), args.route), args.alone):
        bodies = request_bodies(route.kind, test_items(route.task, 500, 0), scenario=scenario)
        live = live_trial(url, bodies, server_load(route.route)[0], settings)
        results[route.key] = check(route.route, live, args.tolerance)
        print(f"{route.key}: {results[route.key].model_dump_json()}", flush=True)
    print(TABLE_HEADER)
    for key, result in results.items():
        print(result.table_row(key))
    return 0 if all(r.within_bound and r.within_tolerance for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
