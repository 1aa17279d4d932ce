"""End-to-end benchmark: many lookups from many clients through N worker processes.

    .venv/bin/python benchmarks/bench_e2e.py                   # 300 lookups, 100 clients, 3 workers
    .venv/bin/python benchmarks/bench_e2e.py --lookups 60 --clients 20 --workers 2

Starts a real Redis, the demo legacy system, a SQLite DB, the API (uvicorn) and the
Celery workers (prefork, one browser each, local chromedriver + headless Chromium).
Every client POSTs its lookups (distinct OS numbers) and polls scraping-status until
SUCCESS/FAILURE. Reports success rate, total time, API latency of the answers, and the
peak memory (PSS, summed over every process of the platform, browsers included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import httpx
import psutil
from cpu_group import CpuGroup  # beside this script
from stall_probe import StallProbe, overlapping, run_delay

from devstack.stack import Api, Stack
from registro.legacy_demo.data import exists


class PssSampler(threading.Thread):
    """Peak of the summed PSS of the given processes and all their descendants."""

    def __init__(self, roots, interval: float = 1.0):
        super().__init__(daemon=True)
        self.roots, self.interval = roots, interval
        self.peak_bytes, self.peak_procs = 0, 0
        self.stop_flag = threading.Event()

    def sample(self) -> None:
        seen, total = set(), 0
        for root in self.roots():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for p in procs:
                if p.pid in seen:
                    continue
                seen.add(p.pid)
                try:
                    total += p.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
        if total > self.peak_bytes:
            self.peak_bytes, self.peak_procs = total, len(seen)

    def run(self) -> None:
        while not self.stop_flag.is_set():
            self.sample()
            self.stop_flag.wait(self.interval)


def tree(pid: int) -> list[psutil.Process]:
    """A process and every process under it."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def server_quantiles(metrics_text: str, minus: str | None = None
                     ) -> dict[str, tuple[int, float, float]]:
    """Per route: (count, p50, p99) from the API's own latency histogram (seconds); with
    ``minus`` (an earlier scrape), of the requests served between the two."""
    buckets = server_buckets(metrics_text)
    if minus is not None:
        before = server_buckets(minus)
        buckets = {route: {le: n - before.get(route, {}).get(le, 0) for le, n in cum.items()}
                   for route, cum in buckets.items()}
    out = {}
    for route, cum in buckets.items():
        total = cum[max(cum)]
        out[route] = (int(total), _quantile(cum, 0.5), _quantile(cum, 0.99))
    return out


def server_buckets(metrics_text: str) -> dict[str, dict[float, float]]:
    """Per route: the latency histogram's cumulative buckets, summed over status."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[str, dict[float, float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "registro_api_request_duration_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                route = f"{sample.labels['method']} {sample.labels['route']}"
                le = float(sample.labels["le"])
                per_route = buckets.setdefault(route, {})
                per_route[le] = per_route.get(le, 0) + sample.value  # sum over status
    return buckets


def _quantile(cum: dict[float, float], q: float) -> float:
    """Linear interpolation inside the bucket holding the q-th observation."""
    bounds = sorted(cum)
    rank, prev_b, prev_c = q * cum[bounds[-1]], 0.0, 0.0
    for b in bounds:
        if cum[b] >= rank:
            if b == float("inf"):
                return prev_b
            span = cum[b] - prev_c
            return prev_b + (b - prev_b) * ((rank - prev_c) / span if span else 1)
        prev_b, prev_c = b, cum[b]
    return prev_b


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# /healthz ten times a second from a process of its own (not the clients' busy loop):
# the API's floor while the lookups run. Stops when its stdin closes.
PROBE = """
import json, sys, threading, time, httpx
done, lat = threading.Event(), []
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
with httpx.Client(base_url=sys.argv[1], timeout=120) as c:
    while not done.is_set():
        t = time.perf_counter(); c.get("/healthz"); lat.append(time.perf_counter() - t)
        done.wait(0.1)
print(json.dumps(lat))
"""


async def run_clients(api: Api, numeros: list[str], clients: int) -> dict:
    post_lat, post_spans, poll_lat, probe_lat, outcomes = [], [], [], [], {}
    after_burst: list[str] = []  # /metrics once the opening burst (a POST each) is answered
    per_client = [numeros[i::clients] for i in range(clients)]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=api.url, headers=api.headers, timeout=120,
                                 limits=limits) as c:
        async def one_client(mine: list[str]) -> None:
            for numero in mine:
                try:
                    status = await one_lookup(numero)
                except httpx.HTTPError as exc:
                    status = f"client_error_{type(exc).__name__}"
                outcomes[status] = outcomes.get(status, 0) + 1

        async def one_lookup(numero: str) -> str:
            t = time.monotonic()
            r = await c.post(f"/api/desenvolvimento/buscar-os-async/{numero}")
            post_lat.append(time.monotonic() - t)
            post_spans.append((t, time.monotonic()))
            if len(post_lat) == clients:
                after_burst.append((await c.get("/metrics")).text)
            body = r.json() if r.status_code == 200 else {}
            status = body.get("status")
            if status == "queued":
                while True:
                    await asyncio.sleep(0.5)
                    t = time.perf_counter()
                    s = await c.get(body["instructions"]["check_status"])
                    poll_lat.append(time.perf_counter() - t)
                    status = s.json().get("status") if s.status_code == 200 else "error"
                    if status in ("SUCCESS", "FAILURE", "error"):
                        break
            elif status in ("found_existing", "success"):
                status = "SUCCESS"
            else:
                status = f"http_{r.status_code}"
            return status

        probe = subprocess.Popen([sys.executable, "-c", PROBE, api.url],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                 preexec_fn=lambda: os.setpriority(os.PRIO_PROCESS, 0, 0))
        await asyncio.gather(*(one_client(m) for m in per_client))
        probe_lat.extend(json.loads(probe.communicate("", timeout=60)[0]))
    return {"post": post_lat, "post_spans": post_spans, "poll": poll_lat, "probe": probe_lat,
            "outcomes": outcomes, "after_burst": after_burst[0] if after_burst else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--first-os", type=int, default=10001)
    parser.add_argument("--api-processes", type=int, default=1,
                        help="uvicorn processes of the API (`registro up` starts one per "
                             "core; the chart, two replicas)")
    parser.add_argument("--nice-clients", type=int, default=0,
                        help="renice this process (the 100 clients) while they run, as "
                             "clients on other machines would be: the /healthz probe "
                             "keeps nice 0")
    parser.add_argument("--nice-legacy", type=int, default=0,
                        help="renice the demo legacy system, an external site in production")
    parser.add_argument("--nice-workers", type=int, default=0,
                        help="renice workers and their browsers (as separate pods with CPU "
                             "limits would): the API keeps CPU for answering")
    parser.add_argument("--workers-cpu-shares", type=int, default=None,
                        help="put the workers and their browsers in one CPU cgroup of these "
                             "cpu.shares (1024 per CPU), as a pod is: weighed as one against "
                             "the API, where --nice-workers weighs each browser thread on "
                             "its own (root)")
    parser.add_argument("--stall-probe", action="store_true",
                        help="also run benchmarks/stall_probe.py (SCHED_FIFO as root) and "
                             "read the API's run-queue delay: tells the machine's stalls "
                             "from the API's own")
    parser.add_argument("--api-cpu", type=int, default=None,
                        help="pin the API to this CPU and everything else (workers, "
                             "browsers, demo, Redis, clients) to the others, as a pod with "
                             "a CPU of its own would run: the API's latency without the "
                             "machine's other work on its core")
    args = parser.parse_args()
    others = None
    if args.api_cpu is not None:
        others = sorted(os.sched_getaffinity(0) - {args.api_cpu})
        if not others:
            parser.error("--api-cpu needs a machine with more than one CPU")
        os.sched_setaffinity(0, others)  # inherited by everything started below

    stack = Stack.new("bench-key-" + str(time.time_ns()))
    demo = stack.demo
    stack.start_redis()
    production = {"REGISTRO_BROKER_VISIBILITY_TIMEOUT_S": 900,
                  "REGISTRO_TASK_TIME_LIMIT_S": 300, "REGISTRO_TASK_SOFT_TIME_LIMIT_S": 240,
                  "REGISTRO_WORKER_HEARTBEAT_S": 2}
    api = group = None
    try:
        if args.workers_cpu_shares is not None:
            group = CpuGroup.create(f"registro-bench-{os.getpid()}", args.workers_cpu_shares)
        for i in range(args.workers):
            stack.start_worker(f"bench{i}", **production)
            if group:  # browsers started later follow their worker into the group
                for p in tree(stack.workers[-1].proc.pid):
                    group.add(p.pid)
        if args.nice_workers:
            for w in stack.workers:  # browsers started later inherit the niceness
                for p in tree(w.proc.pid):
                    p.nice(args.nice_workers)
        if args.nice_legacy:
            for p in tree(demo.proc.pid):
                p.nice(args.nice_legacy)
        api = Api(stack, api_processes=args.api_processes, **production)
        if args.api_cpu is not None:
            for p in tree(api.proc.pid):
                p.cpu_affinity([args.api_cpu])
        numeros, n = [], args.first_os
        while len(numeros) < args.lookups:
            if exists(str(n)):
                numeros.append(str(n))
            n += 1
        def roots():
            found = []
            for p in [api.proc, demo.proc, stack.redis_srv.proc, *(w.proc for w in stack.workers)]:
                try:
                    found.append(psutil.Process(p.pid))
                except psutil.NoSuchProcess:
                    pass
            return found

        def api_pids() -> list[int]:
            return [p.pid for p in tree(api.proc.pid)]

        sampler = PssSampler(roots)
        sampler.start()
        probe = StallProbe.start() if args.stall_probe else None
        delay0 = sum(run_delay(pid) for pid in api_pids())
        started = time.perf_counter()
        if args.nice_clients:
            os.setpriority(os.PRIO_PROCESS, 0, args.nice_clients)
        result = asyncio.run(run_clients(api, numeros, args.clients))
        os.setpriority(os.PRIO_PROCESS, 0, 0)
        total = time.perf_counter() - started
        api_run_delay = sum(run_delay(pid) for pid in api_pids()) - delay0
        gaps = probe.stop() if probe else []
        sampler.stop_flag.set()
        sampler.join()
        searches = demo.stats()["searches"]
        final = httpx.get(f"{api.url}/metrics", timeout=10).text
        server = server_quantiles(final)
        burst = rest = None
        if result["after_burst"]:
            burst = server_quantiles(result["after_burst"])
            rest = server_quantiles(final, minus=result["after_burst"])
    finally:
        if api is not None:
            api.stop()
        stack.close()
        if group:
            group.remove()

    ok = result["outcomes"].get("SUCCESS", 0)
    print(f"end-to-end: {args.lookups} lookups, {args.clients} clients, "
          f"{args.workers} worker processes (1 browser each), workers nice {args.nice_workers}, "
          f"clients nice {args.nice_clients}, legacy system nice {args.nice_legacy}, "
          f"{args.api_processes} API process(es)"
          + (f", workers and browsers in a cgroup of {args.workers_cpu_shares} cpu.shares"
             if group else "")
          + (f", API pinned to CPU {args.api_cpu}, the rest to {others}" if others else ""))
    print(f"  success rate        {ok / args.lookups:.1%}  outcomes={result['outcomes']}")
    print(f"  scrapes on the site {searches} (one per lookup expected)")
    print(f"  total time          {total:.1f} s  ({args.lookups / total * 60:.0f} lookups/min)")
    print(f"  POST latency        (client-side, Python asyncio client) p50 {pct(result['post'], .5) * 1000:.0f} ms  "
          f"p99 {pct(result['post'], .99) * 1000:.0f} ms  max {max(result['post']) * 1000:.0f} ms")
    if result["poll"]:
        print(f"  status latency      p50 {pct(result['poll'], .5) * 1000:.0f} ms  "
              f"p99 {pct(result['poll'], .99) * 1000:.0f} ms  "
              f"({len(result['poll'])} polls, mean {statistics.mean(result['poll']) * 1000:.0f} ms)")
    print(f"  /healthz probe      (own process, 10/s) p50 {pct(result['probe'], .5) * 1000:.0f} ms"
          f"  p99 {pct(result['probe'], .99) * 1000:.0f} ms")
    for route, (count, p50, p99) in sorted(server.items()):
        if count:
            print(f"  API server-side     {route}: {count} requests, p50 {p50 * 1000:.0f} ms, "
                  f"p99 {p99 * 1000:.0f} ms (its own histogram, without client overhead)")
    post_route = "POST /api/desenvolvimento/buscar-os-async/{numero_os}"
    if burst and rest and post_route in burst:
        for label, part in (("the opening burst", burst), ("after it", rest)):
            count, p50, p99 = part.get(post_route, (0, 0.0, 0.0))
            print(f"  POST server-side, {label}: {count} requests, p50 {p50 * 1000:.0f} ms, "
                  f"p99 {p99 * 1000:.0f} ms")
    post = server.get(post_route)
    if post and post[0] and result["probe"]:
        print(f"  POST p99 server-side / /healthz p99 probe: "
              f"{post[2] / pct(result['probe'], .99):.1f}x")
    if probe:
        slow = [s for s in result["post_spans"] if s[1] - s[0] >= 0.1]
        big = [e - s for s, e in gaps if e - s >= 0.05]
        print(f"  stall probe         ({probe.policy}) {len(big)} machine stalls of 50 ms or "
              f"more, longest {max(big, default=0) * 1000:.0f} ms, "
              f"{sum(big):.2f} s in all; the API waited {api_run_delay:.2f} s for a CPU")
        print(f"  POSTs of 100 ms or more (client-side): {len(slow)}, of which "
              f"{overlapping(slow, gaps, 0.05)} overlap a machine stall")
    print(f"  peak memory (PSS)   {sampler.peak_bytes / 2**20:.0f} MiB over "
          f"{sampler.peak_procs} processes (API, Redis, demo, workers, chromedriver, Chromium)")


if __name__ == "__main__":
    main()
