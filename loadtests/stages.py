"""Where one request's time goes, stage by stage, inside the real server.

    python loadtests/stages.py                          # MiniLM-L6 INT8, 40 queries 0.5 s apart (as at 2 req/s)
    python loadtests/stages.py --gap 0 --queries 300    # back to back
    python loadtests/stages.py --variant digits-resnet18-onnx-int8

The variant is served alone (`bentoml serve` of this service with a one-route selection, as `measure` serves it)
with loadtests/stage_hooks first on its PYTHONPATH: inside the worker, every stage of a request is timestamped
(bytes received, each layer of the ASGI chain entered, handler, body parsed, hand-off to the inference thread,
inference, back on the event loop, result built, writing the response). One minimal client (`models.lean_client`)
sends one request at a time over one keep-alive socket, `--gap` seconds of idle before each, and stamps when it
sent and when it had the answer: the same clock (CLOCK_MONOTONIC) on both sides. Printed: the median time from
each stage to the next, in the order they happen, then the client's total and its part outside inference (what
`probe.py --overhead` calls the server's share, here split in about twenty). The stamps cost microseconds each, so
the totals sit slightly above an uninstrumented server's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from loadtests.compare import test_items  # noqa: E402
from models import lean_client  # noqa: E402
from models.served import MEASURE_SCENARIO, ServedVariant  # noqa: E402
from models.served_measure import request_bodies  # noqa: E402

HOOKS = Path(__file__).resolve().parent / "stage_hooks"
SENT, ANSWERED = "client sends", "client has the answer"
RECEIVED = "bytes received"
INFERENCE = ("inference starts", "inference ends")
Stamps = dict[str, float]


def read_stamps(log: Path) -> list[Stamps]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


def matched(spans: list[tuple[float, float]], records: list[Stamps]) -> list[Stamps]:
    """Each client span with the server's stamps of the request it sent (received while it waited); spans whose
    request left no complete record are dropped."""
    joined = []
    for sent, answered in spans:
        record = next((r for r in records if RECEIVED in r and sent <= r[RECEIVED] <= answered), None)
        if record is not None and all(stage in record for stage in INFERENCE):
            joined.append({SENT: sent, **record, ANSWERED: answered})
    return joined


def stage_order(requests: list[Stamps]) -> list[str]:
    """The stages every request has, in the order they happen (by their median time after the client sent); the
    client's two stamps bracket the server's by definition."""
    server = set.intersection(*(set(r) for r in requests)) - {SENT, ANSWERED}
    by_median = sorted(server, key=lambda stage: statistics.median(r[stage] - r[SENT] for r in requests))
    return [SENT, *by_median, ANSWERED]


def ms(value_s: float) -> str:
    return f"{value_s * 1000:.3f}"


def report(requests: list[Stamps]) -> str:
    order = stage_order(requests)
    lines = ["| from | to | median ms | p90 ms |", "|---|---|---|---|"]
    for start, end in zip(order, order[1:], strict=False):
        gaps = [r[end] - r[start] for r in requests]
        p90 = statistics.quantiles(gaps, n=10)[-1] if len(gaps) > 1 else gaps[0]
        lines.append(f"| {start} | {end} | {ms(statistics.median(gaps))} | {ms(p90)} |")
    total = statistics.median(r[ANSWERED] - r[SENT] for r in requests)
    outside = statistics.median(r[ANSWERED] - r[SENT] - (r[INFERENCE[1]] - r[INFERENCE[0]]) for r in requests)
    lines.append(
        f"\n{len(requests)} requests: the client's median {ms(total)} ms, of which outside inference {ms(outside)} ms"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="sentiment-minilm-l6-onnx-int8")
    parser.add_argument("--queries", type=int, default=40, help="requests recorded")
    parser.add_argument("--gap", type=float, default=0.5, help="idle seconds before each request")
    parser.add_argument("--warmup", type=int, default=30, help="requests sent back to back first, not recorded")
    args = parser.parse_args(argv)
    if args.queries < 1 or args.gap < 0 or args.warmup < 0:
        parser.error("--queries must be >= 1, --gap and --warmup >= 0")
    task, kind = ("sentiment", "text") if args.variant.startswith("sentiment") else ("digits", "image")
    bodies = request_bodies(kind, test_items(task, 200, 0), scenario=MEASURE_SCENARIO)
    with tempfile.TemporaryDirectory(prefix="stages-") as directory:
        log = Path(directory) / "stamps.jsonl"
        env = {"PYTHONPATH": f"{HOOKS}:{REPO_ROOT}", "LOADTESTS_STAGES_LOG": str(log)}
        with ServedVariant(task, kind, args.variant, env) as served:
            path = served.url.removeprefix(served.base_url)
            with lean_client.LeanConnection(served.port, path, bodies) as connection:
                recorded = lean_client.spans(connection, args.queries, args.gap, args.warmup)
        requests = matched(recorded, read_stamps(log))
    if not requests:
        print("stages: the server recorded none of the requests (were the hooks imported?)", file=sys.stderr)
        return 1
    print(f"{args.variant}, {args.gap:g} s of idle before each request")
    print(report(requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
