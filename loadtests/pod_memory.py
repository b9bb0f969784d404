"""The memory of the whole service as `make run` serves it: what a pod's memory limit has to hold.

    python loadtests/pod_memory.py                 # 8 items per request, 4 requests per scenario
    python loadtests/pod_memory.py --items 32

One `bentoml serve service.app:ScenarioService` on loopback with service/selection.json (every routed variant
loaded, fallbacks included, the default workers); every scenario of every task gets `--requests` requests of
`--items` test items each (several, so that both workers serve some); then each process's peak RSS (VmHWM) is
printed, the supervisor's and the workers', and their sum (an upper bound: the peaks need not coincide).
"""

from __future__ import annotations

import argparse
import base64
import sys
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from loadtests.compare import test_items  # noqa: E402
from models.loadgen import Body, json_body  # noqa: E402
from models.machine import process_peak_rss_mb  # noqa: E402
from models.served import ENDPOINTS, BentoServer  # noqa: E402
from models.served_measure import png_bytes  # noqa: E402
from service.routing import load_selection  # noqa: E402

SELECTION = REPO_ROOT / "service" / "selection.json"


def batch_body(kind: str, items: list[object], scenario: str) -> Body:
    if kind == "text":
        return json_body({"texts": items, "scenario": scenario})
    images = [base64.b64encode(png_bytes(image)).decode("ascii") for image in items]
    return json_body({"images": images, "scenario": scenario})


def post(url: str, body: Body) -> None:
    data, content_type = body
    request = urllib.request.Request(url, data, {"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=8, help="items per request")
    parser.add_argument("--requests", type=int, default=4, help="requests per scenario")
    args = parser.parse_args(argv)
    selection = load_selection(SELECTION)
    env = {"SCENARIO_SERVE_SELECTION_PATH": str(SELECTION)}
    with BentoServer("service.app:ScenarioService", env) as server:
        for task, task_selection in selection.tasks.items():
            kind = task_selection.kind
            items: list[object] = list(test_items(task, args.items, 0))
            for scenario in task_selection.scenarios:
                for _ in range(args.requests):
                    post(server.base_url + ENDPOINTS[kind], batch_body(kind, items, scenario))
        roles = {server.supervisor_pid(): "supervisor", **{pid: "worker" for pid in server.worker_pids()}}
        peaks = {pid: process_peak_rss_mb(pid) for pid in roles}
        for pid, peak in peaks.items():
            print(f"{roles[pid]} {pid}: peak RSS {peak} MB")
        print(f"sum of the peaks: {round(sum(peaks.values()), 1)} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
