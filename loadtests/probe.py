"""Serve one variant and print its HTTP single-stream latency and Poisson trials at a few rates: a quick way to
compare server settings (workers, threads, batcher) side by side, one setting per run.

    python loadtests/probe.py --variant sentiment-minilm-l6-onnx-int8 --rates 2,40,100,130
    BENTOML_CONFIG_OPTIONS='services."scenario-serve".workers=1' SCENARIO_SERVE_THREADS=2 \\
        python loadtests/probe.py --variant sentiment-minilm-l6-onnx-int8 --rates 2,40,100,130

The server is `bentoml serve` of this service with a one-route selection (as `scenario-serve measure` starts
it), with the environment's BentoML and SCENARIO_SERVE_* settings; trials are open-loop Poisson, latency from the
scheduled arrival, stopped early only after 1% of the queries failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from loadtests.compare import test_items  # noqa: E402
from models.measure_plan import MeasureSettings  # noqa: E402
from models.served import ServedVariant  # noqa: E402
from models.served_measure import ServedTrials, request_bodies  # noqa: E402

NO_BOUND_MS = 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="sentiment-minilm-l6-onnx-int8")
    parser.add_argument("--rates", default="2,40,100", help="comma-separated Poisson rates (req/s)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each trial")
    args = parser.parse_args(argv)
    task, kind = ("sentiment", "text") if args.variant.startswith("sentiment") else ("digits", "image")
    settings = MeasureSettings(
        trial_seconds=args.seconds, min_queries=50, repeats=1, warmup=20, max_samples=500, single_stream_seconds=5.0
    )
    with ServedVariant(task, kind, args.variant) as served:
        trials = ServedTrials(served.url, request_bodies(kind, test_items(task, 1000, 0)), settings)
        try:
            trials.warm_up()
            single = trials.single_stream()
            print(
                f"workers {len(served.worker_pids())}, peak RSS {served.worker_peak_rss_mb()} MB, "
                f"libtorch mapped: {served.workers_map('libtorch')}"
            )
            print(
                f"HTTP single-stream p50 {single['p50_ms']:.2f} p90 {single['p90_ms']:.2f} "
                f"p99 {single['p99_ms']:.2f} ms"
            )
            for rate in (float(r) for r in args.rates.split(",")):
                r = trials.trial(rate, NO_BOUND_MS)
                print(
                    f"rate {rate:g}: achieved {r['achieved_rps']} p50 {r['p50_ms']:.1f} p95 {r['p95_ms']:.1f} "
                    f"p99 {r['p99_ms']:.1f} ms, outcomes {r['outcomes']}, client lateness p50 "
                    f"{r['issue_lateness_p50_ms']} ms",
                    flush=True,
                )
        finally:
            trials.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
