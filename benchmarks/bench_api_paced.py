"""API hot paths under paced users (open loop) and at saturation (closed loop).

    make bench-api-paced                       # = .venv/bin/python benchmarks/bench_api_paced.py
    .venv/bin/python benchmarks/bench_api_paced.py --users 100,500,1000 --step-s 15
    .venv/bin/python benchmarks/bench_api_paced.py --api-processes 2   # as `registro up` on 2 cores

Setup (real parts): a private Redis, a SQLite database, the demo legacy system and one
Celery worker, which scrapes one OS through the API (``queued`` -> ``SUCCESS``) so that
the measured status is a finished task and the measured lookup a stored OS
(``found_existing``); the worker is then stopped so it takes no CPU from the run. The API
runs under uvicorn (``--api-processes``) with one API key per simulated user.

Open loop: for each route and each user count, N users each send one request per second
with its own key (``Authorization: Bearer <key i>``), user i starting at i/N s (arrivals
spread over the first second), for ``--step-s`` seconds. Each user has its own
keep-alive connection. The client is ``benchmarks/loadgen`` (Go, standard library only,
built once into ``~/.cache/registro-tools/loadgen-<hash>``) when a Go toolchain is
installed, else aiohttp (``--client aiohttp`` forces it): both run on the same two
cores as the API, and the Go client takes a fraction of aiohttp's CPU per request. Latency is measured from the
scheduled send time (a late client does not hide queueing). Routes, in the same run:
``GET /healthz`` (the bare floor), ``GET scraping-status`` of the finished task, ``POST
buscar-os-async`` of the stored OS, ``POST buscar-os-async`` of a new OS each request
(the queued path: claim, record and publish) and ``GET queue-status``. Printed: p50, p99,
p99 as a multiple of ``/healthz``'s at the same user count, achieved rate and errors
(non-2xx, timeouts over 10 s, connection errors). For the new-OS route a worker must be
online (else the API scrapes synchronously): the benchmark keeps the heartbeat of a
worker that consumes nothing (``registro.pipeline_state.heartbeat``), so the queue just
grows; the count of queued tasks is checked at the end.

Closed loop: wrk with ``--connections`` connections for ``--closed-s`` seconds per route,
against the same routes (new OS numbers from a counter in wrk's script) and a bare
route that does one Redis GET
(``/_bench/redis-get``, added only to this benchmark's app instance). Printed:
requests/s, p50, p99, errors, and each route's throughput as a fraction of the bare
Redis route's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devstack import processes
from devstack.stack import Stack, wait_status

BASE = "/api/desenvolvimento"
NUMERO_OS = "1201"
BARE_REDIS_ROUTE = "/_bench/redis-get"
FIRST_NEW_OS = 10**9  # new OS numbers from here: none is stored or queued


def app_with_bare_redis_route():
    """The production app plus one route that does a single Redis GET (benchmark only)."""
    import redis.asyncio as aioredis

    from registro.api.main import create_app
    from registro.settings import get_settings

    app = create_app()
    client = aioredis.Redis.from_url(get_settings().redis_url, max_connections=2000)

    @app.get(BARE_REDIS_ROUTE, include_in_schema=False)
    async def bare_redis_get() -> dict:
        return {"value": await client.get("registro:bench:bare")}

    return app


class ApiServer:
    def __init__(self, stack: Stack, api_processes: int, workdir: Path, **env) -> None:
        run_env = stack.env(**env)
        run_env["PYTHONPATH"] = str(ROOT)
        self.managed = processes.start_api(
            run_env, processes=api_processes, cwd=ROOT, log_path=workdir / "api.log",
            app="benchmarks.bench_api_paced:app_with_bare_redis_route",
            extra_args=["--backlog", "4096"], timeout=60)
        self.port, self.url, self.proc = self.managed.port, self.managed.url, self.managed.proc

    def wait_idle(self, timeout_s: float = 90.0) -> float:
        """Wait until the API processes use under 10 % of a core (a step's backlog of
        abandoned requests must not spill into the next step); returns the seconds waited."""
        import psutil

        started = time.monotonic()
        parent = psutil.Process(self.proc.pid)
        while time.monotonic() - started < timeout_s:
            procs = [parent, *parent.children(recursive=True)]
            for p in procs:
                p.cpu_percent(None)
            time.sleep(0.5)
            busy = sum(p.cpu_percent(None) for p in procs if p.is_running())
            if busy < 10:
                break
        return time.monotonic() - started

    def cpu_seconds(self) -> float:
        """CPU time used so far by the API processes (user + system)."""
        import psutil

        parent = psutil.Process(self.proc.pid)
        total = 0.0
        for p in [parent, *parent.children(recursive=True)]:
            try:
                times = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def stop(self) -> None:
        self.managed.stop(timeout=30)


class IdleWorker:
    """The heartbeat of a worker that consumes nothing: the API counts a worker online
    and queues new OS (instead of scraping them itself), and the queue only grows."""

    def __init__(self, redis_url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(redis_url)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        from registro import pipeline_state as state

        while not self.stopping.is_set():
            state.heartbeat(self.client, "bench-idle-worker", concurrency=1, ttl_s=10)
            self.stopping.wait(2)

    def start(self) -> None:
        self.thread.start()

    def queued(self) -> int:
        from registro.queue import read_queue_depth

        return read_queue_depth(self.client).waiting

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.client.close()


# --- open loop ------------------------------------------------------------------------

def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


async def paced_step(url: str, method: str, path: str, keys: list[str], seconds: float,
                     timeout_s: float = 10.0, first: int = 0) -> dict:
    import itertools

    import aiohttp

    numbers = itertools.count(first)

    users = len(keys)
    latencies: list[float] = []
    send_lags: list[float] = []  # the client's own lateness: large values mean it is the limit
    errors: dict[str, int] = {"timeout": 0, "connection": 0}
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    sessions = [aiohttp.ClientSession(
        base_url=url, timeout=timeout, headers={"Authorization": f"Bearer {k}"},
        connector=aiohttp.TCPConnector(limit=0, force_close=False)) for k in keys]
    loop = asyncio.get_running_loop()
    # Open every user's connection first, so the step measures requests, not connects.
    await asyncio.gather(*(s.get("/healthz") for s in sessions), return_exceptions=True)
    start = loop.time() + 0.5
    last_done = start

    async def one(session: aiohttp.ClientSession, due: float) -> None:
        nonlocal last_done
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        send_lags.append(loop.time() - due)
        try:
            async with session.request(method, path.replace("{n}", str(next(numbers)))
                                       ) as response:
                await response.read()
                status = response.status
                ok = 200 <= status < 300
        except TimeoutError:
            errors["timeout"] += 1
            return
        except aiohttp.ClientError:
            errors["connection"] += 1
            return
        done = loop.time()
        last_done = max(last_done, done)
        if ok:
            latencies.append(done - due)
        else:
            errors[f"http_{status}"] = errors.get(f"http_{status}", 0) + 1

    # The client's own collector must not pause it mid-step (its pauses would show as
    # latency of the API): the step's objects are few and short-lived.
    gc.disable()
    tasks = []
    for i, session in enumerate(sessions):
        offset = i / users
        for tick in range(int(seconds)):
            tasks.append(one(session, start + offset + tick))
    try:
        await asyncio.gather(*tasks)
    finally:
        gc.enable()
    await asyncio.gather(*(s.close() for s in sessions))
    latencies.sort()
    send_lags.sort()
    return {"client_lag_p99": _percentile(send_lags, 0.99) * 1000,"p50": _percentile(latencies, 0.50) * 1000, "p99": _percentile(latencies, 0.99) * 1000,
            "rate": len(latencies) / max(last_done - start, 1e-9), "ok": len(latencies),
            "sent": len(tasks), "errors": sum(errors.values()), "error_kinds": errors}


LOADGEN_DIR = ROOT / "benchmarks" / "loadgen"


def build_loadgen() -> Path | None:
    """The Go client (benchmarks/loadgen), built once per source version into the tool
    cache; None without a Go toolchain. Standard library only: no download."""
    go = shutil.which("go")
    if go is None:
        return None
    digest = hashlib.sha256()
    for name in ("go.mod", "main.go"):
        digest.update((LOADGEN_DIR / name).read_bytes())
    cache = Path(os.environ.get("REGISTRO_TOOLS_CACHE",
                                Path.home() / ".cache" / "registro-tools"))
    binary = cache / f"loadgen-{digest.hexdigest()[:12]}" / "loadgen"
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "-mod=mod"}
        subprocess.run([go, "build", "-o", str(binary), "."], cwd=LOADGEN_DIR, env=env,
                       check=True)
    return binary


def paced_step_go(loadgen: Path, keys_file: Path, url: str, method: str, path: str,
                  users: int, seconds: float, first: int = 0) -> dict:
    out = subprocess.run(
        [str(loadgen), "-url", url, "-method", method, "-path", path, "-keys", str(keys_file),
         "-users", str(users), "-seconds", str(int(seconds)), "-first", str(first)],
        capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    for field in ("p50", "p99", "client_lag_p99"):
        result[field] = float("nan") if result[field] is None else result[field]
    return result


def run_async(coro: Any) -> Any:
    """Run the client on uvloop when installed (a cheaper client loop)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# --- closed loop ------------------------------------------------------------------------

WRK_LUA = """
local keys = {%(keys)s}
local i = 0
local first = %(first)d
local threads = 0
id = 0
setup = function(thread)  -- wrk's 2 threads (-t2) each get their own new OS numbers
  thread:set("id", threads)
  threads = threads + 1
end
request = function()
  i = i + 1
  local path = string.gsub("%(path)s", "{n}", tostring(first + i * 2 + id))
  return wrk.format("%(method)s", path,
                    {["Authorization"] = "Bearer " .. keys[(i %% #keys) + 1]})
end
"""


def run_wrk(url: str, script: Path, connections: int, seconds: float) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout=10s", "--latency",
         "-s", str(script), url], capture_output=True, text=True, check=True).stdout

    def grab(pattern: str, default: str = "0") -> str:
        m = re.search(pattern, out)
        return m.group(1) if m else default

    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
        return float(value) * {"us": 1e-3, "ms": 1, "s": 1e3, "m": 6e4}[unit]

    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    socket_errors = sum(int(x) for x in socket.groups()) if socket else 0
    non2xx = int(grab(r"Non-2xx or 3xx responses: (\d+)"))
    return {"rps": float(grab(r"Requests/sec:\s+([\d.]+)")),
            "requests": int(grab(r"(\d+) requests in")),
            "p50": ms(grab(r"\s50%\s+(\S+)", "0us")), "p99": ms(grab(r"\s99%\s+(\S+)", "0us")),
            "errors": socket_errors + non2xx, "socket_errors": socket_errors, "non2xx": non2xx}


# --- the run ----------------------------------------------------------------------------

def prepare(stack: Stack, api_url: str, key: str) -> str:
    """One real scrape through the API, so the status is finished and the OS stored."""
    import httpx

    worker = stack.start_worker("bench-paced")
    try:
        with httpx.Client(base_url=api_url, timeout=60,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            body = client.post(f"{BASE}/buscar-os-async/{NUMERO_OS}").raise_for_status().json()
            done = wait_status(client, body["task_id"], {"SUCCESS", "FAILURE"}, timeout=180)
            if done["status"] != "SUCCESS":
                raise RuntimeError(f"setup scrape failed: {done}")
            found = client.post(f"{BASE}/buscar-os-async/{NUMERO_OS}").json()
            if found["status"] != "found_existing":
                raise RuntimeError(f"stored OS not found: {found}")
            return body["task_id"]
    finally:
        worker.stop()
        stack.workers.remove(worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", default="100,500,1000", help="comma-separated user counts")
    parser.add_argument("--step-s", type=float, default=15.0, help="seconds per paced step")
    parser.add_argument("--connections", type=int, default=1000, help="wrk connections")
    parser.add_argument("--closed-s", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--api-processes", type=int, default=1, help="uvicorn workers")
    parser.add_argument("--skip-closed", action="store_true", help="open loop only")
    parser.add_argument("--skip-paced", action="store_true", help="closed loop only")
    parser.add_argument("--client", choices=("go", "aiohttp"), default=None,
                        help="paced client (default: go when a Go toolchain is installed)")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    user_counts = [int(x) for x in args.users.split(",")]
    keys = [f"bench-{i}-{secrets.token_hex(8)}" for i in range(max(user_counts))]

    stack = Stack.new(",".join(keys))
    workdir = stack.workdir
    stack.start_redis()
    env = {"REGISTRO_REDIS_MAX_CONNECTIONS": 4000, "REGISTRO_API_RATE_LIMIT_PER_MINUTE": 10**9,
           "REGISTRO_BROKER_VISIBILITY_TIMEOUT_S": 900, "REGISTRO_WORKER_HEARTBEAT_S": 2}
    api = idle_worker = None
    try:
        api = ApiServer(stack, args.api_processes, workdir, **env)
        task_id = prepare(stack, api.url, keys[0])
        routes = [("GET /healthz (floor)", "GET", "/healthz"),
                  ("GET scraping-status", "GET", f"{BASE}/scraping-status/{task_id}"),
                  ("POST found_existing", "POST", f"{BASE}/buscar-os-async/{NUMERO_OS}"),
                  ("POST new OS (queued)", "POST", f"{BASE}/buscar-os-async/{{n}}"),
                  ("GET queue-status", "GET", f"{BASE}/queue-status")]
        idle_worker = IdleWorker(stack.redis_url)
        idle_worker.start()
        new_os_sent = 0
        next_new_os = FIRST_NEW_OS
        print(f"API: {args.api_processes} uvicorn process(es), {len(keys)} API keys, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
        if not args.skip_paced:
            loadgen = build_loadgen() if args.client in (None, "go") else None
            if args.client == "go" and loadgen is None:
                raise SystemExit("--client go: no Go toolchain (apt-get install golang-go)")
            keys_file = workdir / "keys.txt"
            keys_file.write_text("\n".join(keys) + "\n")
            client = "Go (benchmarks/loadgen)" if loadgen else "aiohttp"
            print(f"\nOpen loop: each user 1 request/s, own key, arrivals spread over 1 s, "
                  f"{args.step_s:.0f} s per step, {client} client on the same machine")
            print(f"  {'route':24} {'users':>6} {'p50 ms':>8} {'p99 ms':>8} {'x floor':>7} "
                  f"{'req/s':>7} {'sent':>6} {'errors':>6} {'client lag p99':>14} "
                  f"{'API CPU/req':>11}")
            for users in user_counts:
                floor_p99 = None
                for label, method, path in routes:
                    api.wait_idle()
                    cpu = api.cpu_seconds()
                    if loadgen is not None:
                        r = paced_step_go(loadgen, keys_file, api.url, method, path, users,
                                          args.step_s, first=next_new_os)
                    else:
                        r = run_async(paced_step(api.url, method, path, keys[:users],
                                                 args.step_s, first=next_new_os))
                    if "{n}" in path:
                        next_new_os += r["sent"]
                        new_os_sent += r["ok"]
                    floor_p99 = floor_p99 or r["p99"]
                    cpu_ms = (api.cpu_seconds() - cpu) * 1000 / max(r["sent"], 1)
                    kinds = {k: v for k, v in r["error_kinds"].items() if v}
                    print(f"  {label:24} {users:6d} {r['p50']:8.1f} {r['p99']:8.1f} "
                          f"{r['p99'] / floor_p99:7.1f} "
                          f"{r['rate']:7.0f} {r['sent']:6d} {r['errors']:6d} "
                          f"{r['client_lag_p99']:11.1f} ms {cpu_ms:8.2f} ms"
                          + (f"  {kinds}" if kinds else ""), flush=True)
            queued = idle_worker.queued()
            print(f"  new OS answered 2xx: {new_os_sent}; tasks in the queue: {queued} (each "
                  f"a new task: {'yes' if queued == new_os_sent else 'NO'})")
        if not args.skip_closed:
            print(f"\nClosed loop: wrk, {args.connections} connections, {args.closed_s:.0f} s "
                  f"per route, load average {os.getloadavg()[0]:.1f}")
            print(f"  {'route':24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
                  f"{'vs bare':>8} {'API CPU/req':>11}")
            closed = [("bare one-Redis-GET route", "GET", BARE_REDIS_ROUTE), *routes[1:]]
            bare_rps = None
            for label, method, path in closed:
                script = Path(tempfile.mkstemp(suffix=".lua", dir=workdir)[1])
                script.write_text(WRK_LUA % {
                    "keys": ",".join(f'"{k}"' for k in keys[:args.connections]),
                    "method": method, "path": path, "first": next_new_os})
                next_new_os += 10**7  # more than wrk can send in one run
                run_wrk(api.url, script, args.connections, 3)  # warm-up: pools, connections
                api.wait_idle()
                cpu = api.cpu_seconds()
                r = run_wrk(api.url, script, args.connections, args.closed_s)
                cpu_ms = (api.cpu_seconds() - cpu) * 1000 / max(r["requests"], 1)
                bare_rps = bare_rps or r["rps"]
                print(f"  {label:24} {r['rps']:8.0f} {r['p50']:8.1f} {r['p99']:8.1f} "
                      f"{r['errors']:7d} {r['rps'] / bare_rps:8.2f} {cpu_ms:8.2f} ms"
                      + (f"  (socket {r['socket_errors']}, non-2xx {r['non2xx']})"
                         if r["errors"] else ""), flush=True)
    finally:
        if idle_worker is not None:
            idle_worker.stop()
        if api is not None:
            api.stop()
        stack.close()


if __name__ == "__main__":
    main()
