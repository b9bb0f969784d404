"""Our service against a naive BentoML peer, side by side, under the same open-loop Poisson load.

    python loadtests/compare.py                          # both tasks, full-length trials (about 30 minutes)
    python loadtests/compare.py --tasks sentiment --quick
    python loadtests/compare.py --tasks sentiment --servers ours   # one side only (no ratio)

For each task, one server at a time on loopback (never both at once: they would share the two cores):
- ours: `bentoml serve service.app:ScenarioService` routing the task's `realtime` pick of service/selection.json;
- the peer (`loadtests/naive_peer.py`): the quickstart way, `transformers.pipeline` on the same fine-tuned
  MiniLM-L6 `torch-fp32` directory, or torchvision's ResNet-18 with the digits weights, batchable API.
Both get one-item requests of the task's test split with Poisson arrivals (latency from the scheduled arrival);
the search finds each server's highest rate whose p99 stays within --bound-ms with no errors. Prints a table and
writes it as JSON (--out). Needs the default variants in the model store (`scenario-serve prepare`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from models.loadgen import Body, json_body, multipart_body  # noqa: E402
from models.measure_plan import MeasureSettings, ServerTarget, sample_items  # noqa: E402
from models.served import BentoServer, ServedVariant  # noqa: E402
from models.served_measure import ServedTrials, png_bytes, request_bodies  # noqa: E402
from service.contracts import ServerSearch  # noqa: E402
from service.contracts.measurements import ServerTrial  # noqa: E402
from service.routing import ScenarioSelection, load_selection  # noqa: E402

PEER_FILE = "loadtests/naive_peer.py"
START_RPS = 2.0  # the first trial's rate; the search doubles up from it or bisects down to 0


@dataclass(frozen=True)
class Peer:
    service: str  # class in loadtests/naive_peer.py
    variant: str  # store variant whose directory it loads
    kind: str


Side = Literal["ours", "peer"]
SERVER_NAMES: dict[Side, str] = {"ours": "scenario-serve", "peer": "naive BentoML peer"}


class ComparisonRow(BaseModel):
    """One server's result for one task (a row of the table and of comparison.json)."""

    task: str
    server: str
    variant: str
    max_rate_rps: float
    search_max_rate_rps: float | None
    p50_ms: float
    p99_ms: float
    p99_spread_ms: tuple[float, float] | None
    trials: int


class Comparison(BaseModel):
    """What compare.py writes (--out)."""

    bound_ms: float
    quick: bool
    rows: list[ComparisonRow]


PEERS = {
    "sentiment": Peer("NaiveSentiment", "sentiment-minilm-l6-torch-fp32", "text"),
    "digits": Peer("NaiveDigits", "digits-resnet18-torch-fp32", "image"),
}


def realtime_route(task: str) -> ScenarioSelection:
    return load_selection(REPO_ROOT / "service" / "selection.json").tasks[task].scenarios["realtime"]


def realtime_pick(task: str) -> str:
    return realtime_route(task).variant


def test_items(task: str, count: int, seed: int) -> list[Any]:
    from models.catalog import load_catalog
    from models.datasets import load_task_data

    return sample_items(load_task_data(load_catalog().tasks[task]).test.items, count, seed)


def peer_bodies(kind: str, items: list[Any]) -> list[Body]:
    if kind == "text":
        return [json_body({"texts": [text]}) for text in items]
    return [multipart_body("images", [(png_bytes(image), "image/png")]) for image in items]


def search_settings(quick: bool) -> MeasureSettings:
    """The search's trials: 8 s each, repeats of three. The search starts at START_RPS, which is no scenario's target
    rate, so its repeats there are sized as any other rate's, not as `measure`'s predictions (1,200 queries at
    2 rps, capped at four times 30 s, would be two minutes a repeat)."""
    if quick:
        return MeasureSettings.quick()
    trials = MeasureSettings(trial_seconds=8.0, search_steps=5, repeats=3)
    return dataclasses.replace(trials, target_seconds=trials.trial_seconds, target_queries=trials.min_queries)


def search(
    url: str, bodies: list[Body], settings: MeasureSettings, bound_ms: float, estimate_rps: float
) -> ServerSearch:
    trials = ServedTrials(url, bodies, settings)
    try:
        trials.warm_up()
        return trials.search(ServerTarget(bound_ms, START_RPS), estimate_rps)
    finally:
        trials.close()


def at_max(result: ServerSearch) -> ServerTrial:
    """The trials at the highest rate: its confirming repeats, else the search's trial at it, else the target's."""
    if result.at_max_rate is not None:
        return result.at_max_rate
    best = result.max_rate_rps
    return next((t for t in result.trials if t.rate_rps == best and t.meets_bound), result.at_target)


def compare_task(task: str, sides: list[Side], settings: MeasureSettings, bound_ms: float) -> list[ComparisonRow]:
    peer = PEERS[task]
    items = test_items(task, 500, settings.seed)
    return [search_side(task, side, peer, items, settings, bound_ms) for side in sides]


def search_side(
    task: str, side: Side, peer: Peer, items: list[Any], settings: MeasureSettings, bound_ms: float
) -> ComparisonRow:
    if side == "ours":
        ours = realtime_pick(task)
        print(f"{task}: ours ({ours}) ...", flush=True)
        with ServedVariant(task, peer.kind, ours) as server:
            result = search(server.url, request_bodies(peer.kind, items), settings, bound_ms, estimate_rps=200.0)
        return row(task, side, ours, result)
    import bentoml

    print(f"{task}: naive peer ({peer.service} on {peer.variant}) ...", flush=True)
    model_dir = bentoml.models.get(f"{peer.variant}:latest").path
    with BentoServer(f"{PEER_FILE}:{peer.service}", {"NAIVE_MODEL_DIR": model_dir}) as server:
        result = search(server.base_url + "/classify", peer_bodies(peer.kind, items), settings, bound_ms, 10.0)
    return row(task, side, peer.variant, result)


def row(task: str, side: Side, variant: str, result: ServerSearch) -> ComparisonRow:
    best = at_max(result)
    return ComparisonRow(
        task=task,
        server=SERVER_NAMES[side],
        variant=variant,
        max_rate_rps=result.max_rate_rps,
        search_max_rate_rps=result.search_max_rate_rps,
        p50_ms=best.p50_ms,
        p99_ms=best.p99_ms,
        p99_spread_ms=best.p99_spread_ms,
        trials=len(result.trials) + len(result.unconfirmed) + (result.at_max_rate is not None),
    )


def table(rows: list[ComparisonRow], bound_ms: float) -> str:
    lines = [
        f"| task | server | variant | highest rate, p99 <= {bound_ms:g} ms, no errors, confirmed | search's best "
        "single trial | p50 / p99 there (ms) | p99 of the repeats (ms) | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task in dict.fromkeys(r.task for r in rows):
        lines += [table_row(r, ratio_of(r, [t for t in rows if t.task == task])) for r in rows if r.task == task]
    return "\n".join(lines)


def ratio_of(r: ComparisonRow, task_rows: list[ComparisonRow]) -> str:
    """Ours over the peer in our row, 1x in the peer's; "-" when only one side ran."""
    if len(task_rows) < 2:
        return "-"
    ours, peer = task_rows
    return ratio_cell(ours.max_rate_rps, peer.max_rate_rps) if r is ours else "1x"


def table_row(r: ComparisonRow, ratio: str) -> str:
    searched = r.search_max_rate_rps or r.max_rate_rps
    repeats = f"{r.p99_spread_ms[0]:.1f}-{r.p99_spread_ms[1]:.1f}" if r.p99_spread_ms else "-"
    return (
        f"| {r.task} | {r.server} | {r.variant} | {r.max_rate_rps:.1f} rps | {searched:.1f} rps | "
        f"{r.p50_ms:.1f} / {r.p99_ms:.1f} | {repeats} | {ratio} |"
    )


def ratio_cell(ours_rps: float, peer_rps: float) -> str:
    return f"**{ours_rps / peer_rps:.1f}x**" if peer_rps else "**no peer rate meets the bound**"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", choices=sorted(PEERS), default=sorted(PEERS, reverse=True))
    parser.add_argument("--bound-ms", type=float, default=50.0, help="p99 latency bound (default 50)")
    parser.add_argument(
        "--servers", nargs="+", choices=list(SERVER_NAMES), default=list(SERVER_NAMES), help="which sides to run"
    )
    parser.add_argument("--quick", action="store_true", help="short trials and searches (a smoke run)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "comparison.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = search_settings(args.quick)
    sides = [side for side in SERVER_NAMES if side in args.servers]  # ours first, whatever the order given
    rows = [r for task in args.tasks for r in compare_task(task, sides, settings, args.bound_ms)]
    print(table(rows, args.bound_ms))
    comparison = Comparison(bound_ms=args.bound_ms, quick=args.quick, rows=rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(comparison.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
