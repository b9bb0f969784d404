"""Live against predicted: serve the checked-in selection as `make run` does, drive every server scenario at its
target rate, and compare the live p50/p95/p99 with what `scenario-serve select` recorded for the pick.

    python loadtests/live_check.py                    # 30 s per scenario, 3 trials each
    python loadtests/live_check.py --seconds 10 --trials 1

One `bentoml serve service.app:ScenarioService` on loopback with service/selection.json (every routed variant
loaded, the default workers and threads); each trial is open-loop Poisson at the scenario's `target_rps` with the
scenario's test items. A scenario passes when the median trial's p99 is within its bound and within --tolerance
(15%) of the recorded p99. Exits 1 if any does not.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from loadtests.compare import test_items  # noqa: E402
from models.measure_plan import MeasureSettings  # noqa: E402
from models.served import ENDPOINTS, BentoServer  # noqa: E402
from models.served_measure import ServedTrials, median_trial, request_bodies  # noqa: E402
from service.contracts.measurements import ServerTrial  # noqa: E402


def server_scenarios(selection: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(task, kind, scenario, route) of every server-pattern route."""
    found = []
    for task, entry in selection["tasks"].items():
        for name, route in entry["scenarios"].items():
            if route["constraints"].get("load_pattern") == "server":
                found.append((task, entry["kind"], name, route))
    return found


def check(route: dict[str, Any], live: ServerTrial, tolerance: float) -> dict[str, Any]:
    predicted = route["evidence"]["metrics"]
    bound = route["constraints"]["p99_latency_ms"]
    off = (live.p99_ms - predicted["p99_ms"]) / predicted["p99_ms"]
    return {
        "variant": route["variant"],
        "target_rps": route["constraints"]["target_rps"],
        "p99_bound_ms": bound,
        "predicted": {key: predicted[key] for key in ("p50_ms", "p95_ms", "p99_ms")},
        "live": live.model_dump(include={"p50_ms", "p95_ms", "p99_ms", "outcomes", "repeats_p99_ms"}),
        "p99_off_pct": round(100 * off, 1),
        "within_bound": live.p99_ms <= bound and set(live.outcomes) == {"200"},
        "within_tolerance": abs(off) <= tolerance,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--selection", type=Path, default=REPO_ROOT / "service" / "selection.json")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of one trial")
    parser.add_argument("--trials", type=int, default=3, help="trials per scenario (the median p99 counts)")
    parser.add_argument("--tolerance", type=float, default=0.15, help="relative p99 difference allowed")
    args = parser.parse_args(argv)
    selection = json.loads(args.selection.read_text(encoding="utf-8"))
    settings = MeasureSettings(trial_seconds=args.seconds, min_queries=1, repeats=args.trials)
    results = {}
    with BentoServer("service.app:ScenarioService", {"SCENARIO_SERVE_SELECTION_PATH": str(args.selection)}) as server:
        for task, kind, name, route in server_scenarios(selection):
            bodies = request_bodies(kind, test_items(task, 500, 0), scenario=name)
            trials = ServedTrials(server.base_url + ENDPOINTS[kind], bodies, settings)
            try:
                trials.warm_up()
                rate = route["constraints"]["target_rps"]
                live = median_trial([trials.trial(rate, 1e9, repeat) for repeat in range(args.trials)])
            finally:
                trials.close()
            results[f"{task}/{name}"] = check(route, live, args.tolerance)
            print(f"{task}/{name}: {json.dumps(results[f'{task}/{name}'])}", flush=True)
    print("| route | variant | rate | predicted p50 / p95 / p99 (ms) | live p50 / p95 / p99 (ms) | p99 off | bound |")
    print("|---|---|---|---|---|---|---|")
    for key, r in results.items():
        p, lv = r["predicted"], r["live"]
        print(
            f"| {key} | {r['variant']} | {r['target_rps']:g} rps | {p['p50_ms']:.1f} / {p['p95_ms']:.1f} / "
            f"{p['p99_ms']:.1f} | {lv['p50_ms']:.1f} / {lv['p95_ms']:.1f} / {lv['p99_ms']:.1f} | "
            f"{r['p99_off_pct']:+.0f}% | p99 <= {r['p99_bound_ms']:g} ms: "
            f"{'met' if r['within_bound'] else 'BREACHED'} |"
        )
    return 0 if all(r["within_bound"] and r["within_tolerance"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
