"""API load benchmark: 100 and 1,000 concurrent clients posting OS lookups and polling status.

    .venv/bin/python benchmarks/bench_api.py                        # 100 then 1000 clients, 15 s per phase
    .venv/bin/python benchmarks/bench_api.py --clients 100 --duration 5

Real Redis, real API (uvicorn, one process), one real Celery worker scraping the demo
system with a real browser, so lookups move from `queued` (first ask; dedupe for
repeats) to `found_existing`. Load comes from wrk (C, Lua scripts), because a Python
client saturates before the API does. For each client count it runs:

- one phase per route (POST buscar-os-async, GET scraping-status, GET queue-status),
  so that each route gets its own latency figures;
- `mixed`: every connection alternates POST buscar-os-async/{random OS of the pool}
  and GET scraping-status/scraping_{that OS} (the guide's client loop).

Reports requests/s, p50/p99 latency and error rate (socket errors, timeouts over
--timeout, non-2xx answers) per phase.
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack.stack import Api, Stack
from registro.legacy_demo.data import exists

LUA = """
local pool = {%(pool)s}
local mode = "%(mode)s"
local counter = 0
local last = nil
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
wrk.headers["Authorization"] = "Bearer %(key)s"
request = function()
  counter = counter + 1
  if mode == "queue" then
    return wrk.format("GET", "/api/desenvolvimento/queue-status")
  end
  if mode == "status" or (mode == "mixed" and counter %% 2 == 0 and last ~= nil) then
    local n = last or pool[math.random(#pool)]
    if mode == "status" then n = pool[math.random(#pool)] end
    return wrk.format("GET", "/api/desenvolvimento/scraping-status/scraping_" .. n)
  end
  last = pool[math.random(#pool)]
  return wrk.format("POST", "/api/desenvolvimento/buscar-os-async/" .. last)
end
"""


def run_wrk(url: str, script: Path, clients: int, duration: float, timeout: str) -> dict:
    threads = min(4, clients)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{clients}", f"-d{duration:.0f}s", f"--timeout={timeout}",
         "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True).stdout
    def grab(pattern, default="0"):
        m = re.search(pattern, out)
        return m.group(1) if m else default
    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
        return float(value) * {"us": 1e-3, "ms": 1, "s": 1e3, "m": 6e4}[unit]
    total = int(grab(r"(\d+) requests in"))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(x) for x in socket.groups()) if socket else 0
    non2xx = int(grab(r"Non-2xx or 3xx responses: (\d+)"))
    return {"rps": float(grab(r"Requests/sec:\s+([\d.]+)")), "requests": total,
            "p50": ms(grab(r"\s50%\s+(\S+)", "0us")), "p99": ms(grab(r"\s99%\s+(\S+)", "0us")),
            "errors": socket_errors + non2xx, "socket_errors": socket_errors, "non2xx": non2xx}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="100,1000", help="comma-separated client counts")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per phase")
    parser.add_argument("--pool", type=int, default=300, help="distinct OS numbers asked")
    parser.add_argument("--timeout", default="10s", help="wrk request timeout (counts as error)")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,000 sockets each side

    key = "bench-key-" + str(time.time_ns())
    stack = Stack.new(key)
    workdir = stack.workdir
    stack.start_redis()
    env = {"REGISTRO_BROKER_VISIBILITY_TIMEOUT_S": 900, "REGISTRO_WORKER_HEARTBEAT_S": 2,
           "REGISTRO_REDIS_MAX_CONNECTIONS": 1500, "REGISTRO_API_RATE_LIMIT_PER_MINUTE": 10**9}
    pool, n = [], 20001
    while len(pool) < args.pool:
        if exists(str(n)):
            pool.append(n)
        n += 1
    scripts = {}
    for mode in ("mixed", "post", "status", "queue"):
        path = Path(tempfile.mkstemp(suffix=f"-{mode}.lua", dir=workdir)[1])
        path.write_text(LUA % {"pool": ",".join(map(str, pool)), "mode": mode, "key": key})
        scripts[mode] = path
    # POST first: it creates the task records the status phases then read.
    phases = [("POST buscar-os-async", "post"), ("mixed (POST + status)", "mixed"),
              ("GET scraping-status", "status"), ("GET queue-status", "queue")]
    api = None
    try:
        stack.start_worker("bench-api", **env)
        api = Api(stack, **env)
        print(f"API: 1 uvicorn process; 1 worker scraping; pool of {len(pool)} OS numbers; "
              f"{args.duration:.0f} s per phase; wrk timeout {args.timeout}")
        for clients in (int(x) for x in args.clients.split(",")):
            print(f"\n{clients} concurrent clients")
            print(f"  {'phase':24} {'req/s':>8} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} "
                  f"{'errors':>7}")
            for label, mode in phases:
                r = run_wrk(api.url, scripts[mode], clients, args.duration, args.timeout)
                rate = r["errors"] / r["requests"] if r["requests"] else 1.0
                print(f"  {label:24} {r['rps']:8.0f} {r['requests']:9d} {r['p50']:8.1f} "
                      f"{r['p99']:8.1f} {rate:7.2%}"
                      + (f"  (socket {r['socket_errors']}, non-2xx {r['non2xx']})"
                         if r["errors"] else ""), flush=True)
        depth = stack.redis().llen("scraping")
        print(f"\nqueue left behind by the load: {depth} tasks waiting for the worker")
    finally:
        if api is not None:
            api.stop()
        stack.close()


if __name__ == "__main__":
    main()
