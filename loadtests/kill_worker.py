"""Kill a worker under load: SIGKILL one `bentoml serve` worker process mid-run and report what clients saw.

    python loadtests/kill_worker.py                        # start the service, 40 req/s for 30 s, kill at 5 s
    python loadtests/kill_worker.py --rate 40 --seconds 30 --kill-at 5 --worker-id 1
    python loadtests/kill_worker.py --url http://127.0.0.1:3000   # attach to a running server on this machine

Starts `bentoml serve service.app:ScenarioService` on loopback as `make run` does (service/selection.json, every
routed variant, one worker per core), or attaches to one running on this machine (its workers are found with
psutil by the listening port). Sends one-text requests to /v1/text/classify with open-loop Poisson arrivals
(`models.loadgen`, the generator `measure` uses), SIGKILLs the worker with circus id --worker-id at --kill-at
seconds, and watches the arbiter respawn it: fresh connections probe /readyz every 0.2 s, and psutil tells which
worker process accepted each, so "ready again" means the new process itself answered 200.

Prints JSON: per phase (before the kill / from the kill until the new worker is ready / after) the requests sent,
their outcomes (HTTP status with the error's `type`, or the client error: ServerDisconnectedError and
ClientOSError are connections closed or reset under a request, ClientConnectorError a refused connect,
TimeoutError no answer in --timeout) and the p50/p99 of the 200 answers, counted from each request's send; the
requests in flight at the kill, those sent while the killed process was still exiting (the kernel closes its
sockets only once its memory is freed, 0.13-0.28 s for a 1.3 GB worker here: a request sent on one of its
keep-alive connections until then is lost with it), and every failed request with its timing; when the replacement
appeared, first accepted a connection, and answered /readyz 200. Exits 1 unless every failure was in flight at
the kill or sent while the killed process exited, no answer was a 500, and the new worker is ready again within
--ready-timeout. --no-keep-alive opens a fresh connection per request (clients without a pool), the case where
a worker that accepts connections before it is ready shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from models.latency import latency_summary  # noqa: E402
from models.loadgen import Body, HttpClient, json_body, poisson_arrivals, poisson_trial, trial_rng  # noqa: E402
from models.served import BentoServer  # noqa: E402

WORKER_MODULE = "_bentoml_impl.worker.service"
PROBE_INTERVAL_S = 0.2
EXIT_TIMEOUT_S = 10.0
PROBE_TIMEOUT_S = 2.0
MAX_FAILURES_LISTED = 50
WARM_UP_REQUESTS = 20
TEXTS = [
    "I love this so much, best day ever!",
    "Terrible, awful service, I hate it.",
    "The meeting moved to 3pm on Tuesday.",
    "so tired of waiting for this bus #fail",
    "Just finished my exam, feeling great :)",
    "Anyone else watching the game tonight?",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="attach to this running server (loopback) instead of starting one")
    parser.add_argument("--rate", type=float, default=40.0, help="offered requests per second (Poisson)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to send")
    parser.add_argument("--kill-at", type=float, default=5.0, help="seconds into the run to SIGKILL the worker")
    parser.add_argument("--worker-id", type=int, default=1, help="circus worker id (1..workers) of the one to kill")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--ready-timeout", type=float, default=90.0, help="seconds after the kill to be ready again")
    parser.add_argument("--seed", type=int, default=0, help="seed of the arrival times")
    parser.add_argument(
        "--no-keep-alive",
        dest="keep_alive",
        action="store_false",
        help="a fresh connection per request (clients without a connection pool)",
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or not 0 < args.kill_at < args.seconds:
        parser.error("--rate must be positive and --kill-at within (0, --seconds)")
    return args


# -- the server's processes --


def worker_id(process: psutil.Process) -> int | None:
    """The circus worker id of a BentoML API worker (`--worker-id N` on its command line), else None."""
    try:
        command = process.cmdline()
    except psutil.Error:
        return None
    if WORKER_MODULE not in command or "--worker-id" not in command:
        return None
    return int(command[command.index("--worker-id") + 1])


def workers(arbiter: psutil.Process) -> dict[int, psutil.Process]:
    """Circus worker id -> the live worker process with that id under the arbiter."""
    found = {}
    for child in arbiter.children():
        wid = worker_id(child)
        try:
            if wid is not None and child.status() != psutil.STATUS_ZOMBIE:
                found[wid] = child
        except psutil.Error:  # gone since children() listed it
            continue
    return found


def arbiter_listening_on(port: int) -> psutil.Process:
    """The parent of the worker processes that hold the socket listening on `port` (attach mode)."""
    for process in psutil.process_iter():
        if worker_id(process) is None:
            continue
        try:
            listening = any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in process.net_connections("tcp")
            )
        except psutil.Error:
            continue
        if listening and process.parent() is not None:
            return process.parent()
    raise SystemExit(f"no BentoML worker process on this machine listens on port {port}")


def established_to(process: psutil.Process, port: int) -> list[int]:
    """Client-side ports of the connections to `port` that `process` has accepted."""
    try:
        connections = process.net_connections("tcp")
    except psutil.Error:
        return []
    return [
        c.raddr.port for c in connections if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port and c.raddr
    ]


# -- the load --


@dataclass
class Sent:
    """One request: when the client sent it and got its outcome (loop time), the outcome, and for an error answer
    the `type` of its JSON error object (503 `overloaded` and 503 `variant_unavailable` differ)."""

    issued: float
    done: float | None = None
    outcome: str | None = None
    error_type: str | None = None

    @property
    def detail(self) -> str:
        return f"{self.outcome} {self.error_type}" if self.error_type else self.outcome or "unfinished"


def error_type(payload: bytes) -> str:
    try:
        return str(json.loads(payload)["error"]["type"])
    except (ValueError, KeyError, TypeError):
        return "not-json"


class RecordingClient(HttpClient):
    """`models.loadgen`'s client, keeping every request's `Sent` record."""

    def __init__(self, url: str, bodies: list[Body], timeout_s: float, keep_alive: bool) -> None:
        super().__init__(url, bodies, timeout_s, keep_alive=keep_alive)
        self.requests: dict[int, Sent] = {}

    async def send(self, index: int) -> str:
        import aiohttp

        loop = asyncio.get_running_loop()
        record = self.requests[index] = Sent(issued=loop.time())
        body, content_type = self.bodies[index % len(self.bodies)]
        try:
            async with self._session.post(self.url, data=body, headers={"Content-Type": content_type}) as response:
                payload = await response.read()
                record.outcome = str(response.status)
                record.error_type = None if response.status == 200 else error_type(payload)
        except (aiohttp.ClientError, TimeoutError) as exc:
            record.outcome = type(exc).__name__
        record.done = loop.time()
        return record.outcome

    def in_flight(self) -> list[int]:
        return [index for index, sent in self.requests.items() if sent.done is None]


@dataclass
class Restart:
    """What happened to the killed worker's slot, in loop time."""

    killed_pid: int
    killed_at: float
    connections_at_kill: int
    in_flight_at_kill: list[int]
    exited_at: float | None = None  # every thread of it has exited: its sockets are closed
    new_pid: int | None = None
    respawned_at: float | None = None
    first_accept_at: float | None = None
    first_accept_status: int | None = None
    ready_at: float | None = None
    probes: Counter[str] = field(default_factory=Counter)  # "<who accepted>:<status>": new, old or none


async def readyz_probe(host: str, port: int, owners: list[psutil.Process]) -> tuple[int | None, int]:
    """GET /readyz on a fresh connection; (pid of the worker that accepted it or None, status or 0 on failure)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), PROBE_TIMEOUT_S)
    except (OSError, TimeoutError):
        return None, 0
    try:
        local_port = writer.get_extra_info("sockname")[1]
        writer.write(f"GET /readyz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        status_line = await asyncio.wait_for(reader.readline(), PROBE_TIMEOUT_S)
        status = int(status_line.split()[1]) if status_line.startswith(b"HTTP/") else 0
        owner = next((p.pid for p in owners if local_port in established_to(p, port)), None)
        return owner, status
    except (OSError, TimeoutError, ValueError, IndexError):
        return None, 0
    finally:
        writer.close()


async def wait_exited(pidfd: int, timeout_s: float) -> None:
    """Until every thread of the killed process has exited (its pidfd turns readable): the kernel closes the
    process' sockets on the way, after freeing its memory, so requests sent on its connections until then are lost
    with it."""
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()

    def mark_exited() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, mark_exited)
    try:
        await asyncio.wait_for(exited, timeout_s)
    except TimeoutError:
        pass
    finally:
        loop.remove_reader(pidfd)


async def kill_and_watch(
    client: RecordingClient, arbiter: psutil.Process, args: argparse.Namespace, host: str, port: int
) -> Restart:
    """SIGKILL the worker at --kill-at, then follow its replacement until it answers /readyz 200 itself."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(args.kill_at)
    victim = workers(arbiter).get(args.worker_id)
    if victim is None:
        raise SystemExit(f"no worker with id {args.worker_id} under pid {arbiter.pid}")
    connections = len(established_to(victim, port))
    pidfd = os.pidfd_open(victim.pid)
    restart = Restart(victim.pid, loop.time(), connections, client.in_flight())
    os.kill(victim.pid, signal.SIGKILL)  # same loop step as the in-flight snapshot: nothing is sent in between
    try:
        await wait_exited(pidfd, EXIT_TIMEOUT_S)
    finally:
        os.close(pidfd)
    restart.exited_at = loop.time()
    deadline = restart.killed_at + args.ready_timeout
    while loop.time() < deadline and restart.ready_at is None:
        await asyncio.sleep(PROBE_INTERVAL_S)
        current = workers(arbiter)
        new = current.get(args.worker_id)
        if new is None or new.pid == victim.pid:
            continue
        if restart.new_pid is None:
            restart.new_pid, restart.respawned_at = new.pid, loop.time()
        owner, status = await readyz_probe(host, port, list(current.values()))
        restart.probes[f"{'new' if owner == new.pid else 'none' if owner is None else 'old'}:{status}"] += 1
        if owner == new.pid and restart.first_accept_at is None:
            restart.first_accept_at, restart.first_accept_status = loop.time(), status
        if owner == new.pid and status == 200:
            restart.ready_at = loop.time()
    return restart


async def workers_answering_ready(host: str, port: int, arbiter: psutil.Process, attempts: int = 100) -> set[int]:
    """Pids of the workers seen answering /readyz 200 on fresh connections: until every worker has, or `attempts`."""
    current = list(workers(arbiter).values())
    seen: set[int] = set()
    for _ in range(attempts):
        owner, status = await readyz_probe(host, port, current)
        if owner is not None and status == 200:
            seen.add(owner)
        if seen >= {process.pid for process in current}:
            break
        await asyncio.sleep(PROBE_INTERVAL_S / 4)
    return seen


# -- the report --

CONNECTION_LOST = {"ServerDisconnectedError", "ClientOSError", "ClientPayloadError"}


def outcome_class(outcome: str) -> str:
    if outcome == "200" or outcome == "503":
        return outcome
    if outcome.isdigit():
        return "other_status"
    if outcome in CONNECTION_LOST:
        return "connection_lost"
    if outcome == "ClientConnectorError":
        return "connection_refused"
    if "Timeout" in outcome:
        return "timeout"
    return "other_error"


def phase_summary(sent: list[Sent]) -> dict[str, Any]:
    ok = [1000.0 * (s.done - s.issued) for s in sent if s.outcome == "200" and s.done is not None]
    summary = latency_summary(ok) if ok else None
    p50, p99 = (round(summary["p50_ms"], 1), round(summary["p99_ms"], 1)) if summary else (None, None)
    return {
        "sent": len(sent),
        "by_class": dict(sorted(Counter(outcome_class(s.outcome or "unfinished") for s in sent).items())),
        "outcomes": dict(sorted(Counter(s.detail for s in sent).items())),
        "ok_p50_ms": p50,
        "ok_p99_ms": p99,
    }


def longest_without_200(sent: list[Sent], start: float, end: float) -> float | None:
    """The longest time between `start` and `end` (or the last answer) in which no request was answered 200."""
    answered = sorted(s.done for s in sent if s.outcome == "200" and s.done is not None and start <= s.done <= end)
    if not answered:
        return None
    moments = [start, *answered]
    return round(max(later - earlier for earlier, later in pairwise(moments)), 3)


def report(client: RecordingClient, restart: Restart, trial_start: float, args: argparse.Namespace) -> dict[str, Any]:
    kill, exited = restart.killed_at, restart.exited_at or restart.killed_at
    ready = restart.ready_at if restart.ready_at is not None else float("inf")
    phases: dict[str, list[Sent]] = {"before": [], "during": [], "after": []}
    for sent in client.requests.values():
        phase = "before" if sent.issued < kill else "during" if sent.issued < ready else "after"
        phases[phase].append(sent)
    in_flight = set(restart.in_flight_at_kill)
    while_exiting = {i for i, s in client.requests.items() if kill <= s.issued < exited}
    exposed = in_flight | while_exiting
    failed = {i for i, s in client.requests.items() if s.outcome != "200"}

    def since_kill(moment: float | None) -> float | None:
        return None if moment is None else round(moment - kill, 3)

    return {
        "offered_rps": args.rate,
        "seconds": args.seconds,
        "connections": "keep-alive" if args.keep_alive else "fresh per request",
        "kill_at_s": round(kill - trial_start, 2),
        "killed_worker": {
            "worker_id": args.worker_id,
            "pid": restart.killed_pid,
            "connections_at_kill": restart.connections_at_kill,
            "exited_after_s": since_kill(exited),
        },
        "phases": {name: phase_summary(sent) for name, sent in phases.items()},
        "in_flight_at_kill": len(in_flight),
        "sent_while_exiting": len(while_exiting),
        "failed": len(failed),
        "failed_in_flight_or_while_exiting": len(failed & exposed),
        "failed_otherwise": len(failed - exposed),
        "failures": [
            {
                "in_flight_at_kill": i in in_flight,
                "sent_while_exiting": i in while_exiting,
                "sent_after_kill_s": since_kill(client.requests[i].issued),
                "ended_after_kill_s": since_kill(client.requests[i].done),
                "outcome": client.requests[i].detail,
            }
            for i in sorted(failed)[:MAX_FAILURES_LISTED]
        ],
        "longest_without_200_s": longest_without_200(list(client.requests.values()), kill, ready),
        "answered_500": sum(s.outcome == "500" for s in client.requests.values()),
        "restart": {
            "new_pid": restart.new_pid,
            "respawned_after_s": since_kill(restart.respawned_at),
            "first_accepted_after_s": since_kill(restart.first_accept_at),
            "first_accepted_status": restart.first_accept_status,
            "ready_after_s": since_kill(restart.ready_at),
            "readyz_probes": dict(sorted(restart.probes.items())),
        },
    }


async def run(base_url: str, arbiter: psutil.Process, args: argparse.Namespace) -> dict[str, Any]:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    bodies: list[Body] = [json_body({"texts": [text], "scenario": "realtime"}) for text in TEXTS]
    arrivals = poisson_arrivals(args.rate, int(args.rate * args.seconds), trial_rng(args.seed, args.rate))
    async with RecordingClient(f"{base_url}/v1/text/classify", bodies, args.timeout, args.keep_alive) as client:
        for index in range(WARM_UP_REQUESTS):
            await client.send(-1 - index)
        client.requests.clear()
        start = asyncio.get_running_loop().time()
        watcher = asyncio.create_task(kill_and_watch(client, arbiter, args, host, port))
        await poisson_trial(client.send, arrivals)
        restart = await watcher
    result = report(client, restart, start, args)
    result["workers_at_end"] = sorted(process.pid for process in workers(arbiter).values())
    result["workers_ready_at_end"] = sorted(await workers_answering_ready(host, port, arbiter))
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with ExitStack() as stack:
        if args.url:
            base_url = args.url.rstrip("/")
            arbiter = arbiter_listening_on(urlsplit(base_url).port or 80)
        else:
            server = stack.enter_context(BentoServer("service.app:ScenarioService"))
            base_url, arbiter = server.base_url, arbiter_listening_on(server.port)
        if len(workers(arbiter)) < 2:
            print("warning: fewer than two workers; there is nothing to fail over to", file=sys.stderr)
        result = asyncio.run(run(base_url, arbiter, args))
    print(json.dumps(result, indent=2))
    checks = {
        "every failure was in flight at the kill or sent while the worker exited": result["failed_otherwise"] == 0,
        "no 500 answers": result["answered_500"] == 0,
        "the new worker is ready again": result["restart"]["ready_after_s"] is not None,
        "every worker answers /readyz 200 at the end": result["workers_ready_at_end"] == result["workers_at_end"],
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
