"""Fault benchmark: lookups through the whole platform while things break.

    make bench-faults                                         # 300 lookups, 100 users, 3 workers
    .venv/bin/python benchmarks/bench_faults.py --lookups 60 --clients 20

Two runs on fresh stacks (Redis with AOF, the demo legacy system, a SQLite DB, the API,
N Celery workers with one browser each), same size, distinct OS numbers:

1. baseline: no faults;
2. faults: the demo answers a share of its requests with HTTP 500 (``--error-rate``,
   drawn per request: about 10% of scrapes meet one at the default) and expires every
   login session after ``--session-max-requests`` requests; one worker's pool process is
   SIGKILLed mid-scrape once a third of the lookups are done, and Redis is SIGKILLed
   and restarted on its AOF once two thirds are done.

Reports, per run: success rate, lost tasks (a lookup that never reached SUCCESS or
FAILURE before the deadline), searches on the legacy site beyond one per lookup
(repeated searches, compared with the kills), tasks the reconciler published again,
and the time to finish; then the fault run's time over the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from devstack.stack import Api, Stack
from registro import pipeline_state as state
from registro.legacy_demo.data import exists

PRODUCTION = {"REGISTRO_BROKER_VISIBILITY_TIMEOUT_S": 900,
              "REGISTRO_TASK_TIME_LIMIT_S": 300, "REGISTRO_TASK_SOFT_TIME_LIMIT_S": 240,
              "REGISTRO_TASK_MAX_RETRIES": 3, "REGISTRO_WORKER_HEARTBEAT_S": 2,
              "REGISTRO_RECONCILE_GRACE_S": 15, "REGISTRO_RECONCILE_INTERVAL_S": 5}


@dataclass
class RunResult:
    outcomes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    searches: int = 0
    errors_500: int = 0
    sessions_expired: int = 0
    republished: int = 0
    tries: int = 0  # scrape tries started by the workers
    repeated_tries: int = 0  # the same task's same try run again (after a kill or a loss)
    kills: list[str] = field(default_factory=list)


TRY_RE = re.compile(r"task_id=(\S+) .*msg=scrape started try=(\d+)")


def count_tries(logs: list[Path]) -> tuple[int, int]:
    """(tries, repeated): a try is (task id, try number); seen twice = run again."""
    seen: dict[tuple[str, str], int] = {}
    for log in logs:
        for match in TRY_RE.finditer(log.read_text(errors="replace")):
            key = (match.group(1), match.group(2))
            seen[key] = seen.get(key, 0) + 1
    return sum(seen.values()), sum(n - 1 for n in seen.values())


def os_numbers(first: int, count: int) -> list[str]:
    out, n = [], first
    while len(out) < count:
        if exists(str(n)):
            out.append(str(n))
        n += 1
    return out


async def run_clients(api: Api, numeros: list[str], clients: int, deadline_s: float,
                      done_counter: list[int]) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    per_client = [numeros[i::clients] for i in range(clients)]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    deadline = time.monotonic() + deadline_s
    async with httpx.AsyncClient(base_url=api.url, headers=api.headers, timeout=60,
                                 limits=limits) as c:

        async def one_lookup(numero: str) -> str:
            while time.monotonic() < deadline:  # a 503 or a dropped connection: ask again
                try:
                    r = await c.post(f"/api/desenvolvimento/buscar-os-async/{numero}")
                except httpx.HTTPError:
                    await asyncio.sleep(1)
                    continue
                if r.status_code == 503:
                    await asyncio.sleep(float(r.headers.get("Retry-After", "2")))
                    continue
                body = r.json() if r.status_code == 200 else {}
                if body.get("status") in ("found_existing", "success"):
                    return "SUCCESS"
                if body.get("status") != "queued":
                    return f"http_{r.status_code}"
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    try:
                        s = await c.get(body["instructions"]["check_status"])
                    except httpx.HTTPError:
                        continue
                    status = s.json().get("status") if s.status_code == 200 else None
                    if status in ("SUCCESS", "FAILURE"):
                        return status
                return "lost"
            return "lost"

        async def one_client(mine: list[str]) -> None:
            for numero in mine:
                status = await one_lookup(numero)
                outcomes[status] = outcomes.get(status, 0) + 1
                done_counter[0] += 1

        await asyncio.gather(*(one_client(m) for m in per_client))
    return outcomes


def _busy_pool_child(stack: Stack) -> psutil.Process | None:
    """A pool process of a worker that holds a task right now (its heartbeat says so)."""
    client = stack.redis()
    busy = state.live_worker_tasks(client)
    for worker in stack.workers:
        if busy.get(worker.hostname):
            children = [p for p in psutil.Process(worker.proc.pid).children()
                        if "chrom" not in p.name()]
            if children:
                return children[0]
    return None


def inject(stack: Stack, total: int, done: list[int], result: RunResult,
           stop: threading.Event) -> None:
    """Kill one pool process at a third of the run, restart Redis at two thirds."""
    while not stop.is_set() and done[0] < total // 3:
        stop.wait(0.2)
    while not stop.is_set():
        child = _busy_pool_child(stack)
        if child is not None:
            child.kill()
            result.kills.append(f"pool process {child.pid} SIGKILLed at {done[0]}/{total}")
            break
        stop.wait(0.2)
    while not stop.is_set() and done[0] < 2 * total // 3:
        stop.wait(0.2)
    if not stop.is_set():
        stack.kill_redis()
        stack.start_redis()
        result.kills.append(f"Redis SIGKILLed and restarted at {done[0]}/{total}")


def run(args: argparse.Namespace, faults: bool, first_os: int) -> RunResult:
    config = {"error_rate": args.error_rate,
              "session_max_requests": args.session_max_requests} if faults else {}
    stack = Stack.new("bench-key-" + str(time.time_ns()), **config)
    demo = stack.demo
    stack.start_redis()
    result, api = RunResult(), None
    stop = threading.Event()
    try:
        for i in range(args.workers):
            stack.start_worker(f"{'f' if faults else 'b'}{i}", **PRODUCTION)
        api = Api(stack, **PRODUCTION)
        numeros = os_numbers(first_os, args.lookups)
        done = [0]
        injector = threading.Thread(target=inject, args=(stack, len(numeros), done, result,
                                                         stop), daemon=True)
        if faults:
            injector.start()
        started = time.perf_counter()
        result.outcomes = asyncio.run(run_clients(api, numeros, args.clients,
                                                  args.deadline, done))
        result.seconds = time.perf_counter() - started
        stop.set()
        if faults:
            injector.join()
        stats = demo.stats()
        result.searches = stats["searches"]
        result.errors_500 = stats.get("errors_500", 0)
        result.sessions_expired = stats.get("sessions_expired", 0)
        result.republished = state.republished_count(stack.redis())
        result.tries, result.repeated_tries = count_tries([w.log_path for w in stack.workers])
    finally:
        stop.set()
        if api is not None:
            api.stop()
        stack.close()
    return result


def report(name: str, r: RunResult, lookups: int) -> None:
    ok = r.outcomes.get("SUCCESS", 0)
    lost = r.outcomes.get("lost", 0)
    print(f"{name}:")
    print(f"  success rate        {ok / lookups:.1%}  outcomes={r.outcomes}")
    print(f"  lost tasks          {lost}")
    print(f"  searches on site    {r.searches} for {lookups} lookups: {r.searches - lookups} "
          f"repeated (retries after injected errors included)")
    print(f"  injected            {r.errors_500} HTTP 500s, {r.sessions_expired} expired "
          f"sessions; kills: {r.kills or 'none'}")
    print(f"  tries               {r.tries} scrape tries; {r.repeated_tries} run again after "
          f"a kill or a loss (same task, same try)")
    print(f"  republished         {r.republished} tasks by the reconciler")
    print(f"  time to finish      {r.seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--error-rate", type=float, default=0.02,
                        help="share of the demo's requests answered 500 (a scrape makes "
                             "about 5 of them: 0.02 = about 10%% of scrapes)")
    parser.add_argument("--session-max-requests", type=int, default=60)
    parser.add_argument("--deadline", type=float, default=1800,
                        help="seconds after which an unfinished lookup counts as lost")
    args = parser.parse_args()

    base = run(args, faults=False, first_os=20001)
    faulty = run(args, faults=True, first_os=40001)
    print(f"fault benchmark: {args.lookups} lookups, {args.clients} users, "
          f"{args.workers} workers (1 browser each)")
    report("baseline (no faults)", base, args.lookups)
    report(f"faults (error rate {args.error_rate:.0%} per request, sessions expire after "
           f"{args.session_max_requests} requests, 1 pool process killed, Redis restarted)",
           faulty, args.lookups)
    print(f"summary: success {faulty.outcomes.get('SUCCESS', 0)}/{args.lookups}, lost "
          f"{faulty.outcomes.get('lost', 0)}, kills {len(faulty.kills)}, tries run again "
          f"{faulty.repeated_tries} (goal: at most one per kill), time "
          f"{faulty.seconds / base.seconds:.2f}x the baseline")


if __name__ == "__main__":
    main()
