"""Drive one scenario of a running scenario-serve with Poisson arrivals, over HTTP only; print a JSON summary.

    python loadtests/drive.py --url http://localhost:3000 --scenario realtime --rate 40 --seconds 60
    python loadtests/drive.py --kind image --images some/pngs --scenario realtime --rate 20 --seconds 60

Latency is measured from each request's scheduled arrival (as MLPerf LoadGen's server scenario does), so a
client or server that falls behind shows up as queueing delay instead of a silently lower rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

SAMPLE_TEXTS = [
    "I love this so much, best day ever!",
    "Terrible, awful service, I hate it.",
    "The meeting moved to 3pm on Tuesday.",
    "so tired of waiting for this bus #fail",
    "Just finished my exam, feeling great :)",
    "Anyone else watching the game tonight?",
]


def arrival_offsets(rate: float, seconds: float, seed: int) -> np.ndarray:
    """Poisson process: exponential gaps at `rate` per second, cut at `seconds`."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / rate, size=int(rate * seconds * 2) + 16)
    times = np.cumsum(gaps)
    return times[times < seconds]


def request_body(kind: str, payloads: list[Any], index: int, scenario: str) -> dict[str, Any]:
    item = payloads[index % len(payloads)]
    return {"texts": [item], "scenario": scenario} if kind == "text" else {"images": [item], "scenario": scenario}


def load_payloads(args: argparse.Namespace) -> list[Any]:
    if args.kind == "text":
        if args.texts is None:
            return SAMPLE_TEXTS
        return [line for line in args.texts.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.images is None:
        raise SystemExit("--images DIR is required with --kind image")
    import base64

    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    if not files:
        raise SystemExit(f"no PNG or JPEG files in {args.images}")
    return [base64.b64encode(p.read_bytes()).decode("ascii") for p in files]


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    payloads = load_payloads(args)
    endpoint = f"{args.url.rstrip('/')}/v1/{args.kind}/classify"
    offsets = arrival_offsets(args.rate, args.seconds, args.seed)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    variants: dict[str, int] = {}
    limits = httpx.Limits(max_connections=args.max_connections)
    async with httpx.AsyncClient(timeout=args.timeout, limits=limits) as client:
        start = time.perf_counter()

        async def one(index: int, offset: float) -> None:
            await asyncio.sleep(max(0.0, start + offset - time.perf_counter()))
            try:
                response = await client.post(endpoint, json=request_body(args.kind, payloads, index, args.scenario))
                key = str(response.status_code)
                if response.status_code == 200:
                    variant = response.headers.get("X-Variant", "?")
                    variants[variant] = variants.get(variant, 0) + 1
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            statuses[key] = statuses.get(key, 0) + 1
            latencies.append((time.perf_counter() - (start + offset)) * 1000.0)

        await asyncio.gather(*(one(i, float(t)) for i, t in enumerate(offsets)))
        elapsed = time.perf_counter() - start
    ms = np.array(latencies) if latencies else np.array([np.nan])
    return {
        "endpoint": endpoint,
        "scenario": args.scenario,
        "target_rps": args.rate,
        "sent": len(offsets),
        "achieved_rps": round(len(offsets) / elapsed, 2),
        "statuses": statuses,
        "variants": variants,
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
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
