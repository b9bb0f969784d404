"""Drive one scenario of a running scenario-serve with Poisson arrivals, over HTTP only; print a JSON summary.

    python loadtests/drive.py --url http://localhost:3000 --scenario realtime --rate 40 --seconds 60
    python loadtests/drive.py --kind image --images some/pngs --scenario realtime --rate 20 --seconds 60

Latency is measured from each request's scheduled arrival (as MLPerf LoadGen's server scenario does), so a
client or server that falls behind shows up as queueing delay instead of a silently lower rate. The load
pattern is `models.loadgen`'s, the one `scenario-serve measure` uses.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.loadgen import Body, HttpClient, json_body, poisson_arrivals, poisson_trial, trial_rng  # noqa: E402

SAMPLE_TEXTS = [
    "I love this so much, best day ever!",
    "Terrible, awful service, I hate it.",
    "The meeting moved to 3pm on Tuesday.",
    "so tired of waiting for this bus #fail",
    "Just finished my exam, feeling great :)",
    "Anyone else watching the game tonight?",
]


def load_bodies(args: argparse.Namespace) -> list[Body]:
    if args.kind == "text":
        texts = (
            SAMPLE_TEXTS
            if args.texts is None
            else [line for line in args.texts.read_text(encoding="utf-8").splitlines() if line.strip()]
        )
        return [json_body({"texts": [text], "scenario": args.scenario}) for text in texts]
    if args.images is None:
        raise SystemExit("--images DIR is required with --kind image")
    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    if not files:
        raise SystemExit(f"no PNG or JPEG files in {args.images}")
    encoded = [base64.b64encode(p.read_bytes()).decode("ascii") for p in files]
    return [json_body({"images": [image], "scenario": args.scenario}) for image in encoded]


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    endpoint = f"{args.url.rstrip('/')}/v1/{args.kind}/classify"
    count = max(1, int(args.rate * args.seconds))
    arrivals = poisson_arrivals(args.rate, count, trial_rng(args.seed, args.rate))
    async with HttpClient(endpoint, load_bodies(args), args.timeout, args.max_connections) as client:
        trial = await poisson_trial(client.send, arrivals)
        variants = dict(client.variants)
    return {
        "endpoint": endpoint,
        "scenario": args.scenario,
        "target_rps": args.rate,
        "sent": trial["queries"],
        "achieved_rps": trial["achieved_rps"],
        "statuses": trial["outcomes"],
        "variants": variants,
        "p50_ms": trial["p50_ms"],
        "p95_ms": trial["p95_ms"],
        "p99_ms": trial["p99_ms"],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://localhost:3000", help="service base URL")
    parser.add_argument("--kind", choices=["text", "image"], default="text", help="which endpoint to drive")
    parser.add_argument("--scenario", default="realtime", help="scenario sent with every request")
    parser.add_argument("--rate", type=float, default=40.0, help="mean arrivals per second (Poisson)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to send")
    parser.add_argument("--seed", type=int, default=0, help="seed of the arrival times")
    parser.add_argument("--texts", type=Path, help="file with one text per line (default: a few built-in tweets)")
    parser.add_argument("--images", type=Path, help="directory of PNG/JPEG files (with --kind image)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument("--max-connections", type=int, default=64, help="concurrent connections at most")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    summary = asyncio.run(drive(parse_args(argv)))
    print(json.dumps(summary, indent=2))
    return 0 if set(summary["statuses"]) <= {"200"} else 1


if __name__ == "__main__":
    sys.exit(main())
