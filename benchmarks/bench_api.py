"""API load benchmark: N concurrent clients posting OS lookups and polling their status.

    .venv/bin/python benchmarks/bench_api.py                       # 100 then 1000 clients, 20 s each
    .venv/bin/python benchmarks/bench_api.py --clients 100 --duration 10

Real Redis, real API (uvicorn), one real Celery worker scraping the demo system with
a real browser, so lookups move from `queued` (first asks, dedupe for repeats) to
`found_existing`. Each client loops: POST a random OS of the pool; if queued, GET its
status. Reports throughput, p50/p99 latency and error rate per route. The load
generator is one Python asyncio process on the same 2 cores as the API.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from registro.db import upgrade  # noqa: E402
from registro.legacy_demo.data import exists  # noqa: E402
from registro.local_services import free_port  # noqa: E402
from tests.pipeline.harness import Api, Demo, Stack, make_workdir  # noqa: E402

ROUTES = ("POST buscar-os-async", "GET scraping-status", "GET queue-status")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def load(api: Api, clients: int, duration: float, pool: list[str]) -> dict:
    lat = {r: [] for r in ROUTES}
    errors = {r: 0 for r in ROUTES}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    deadline = time.perf_counter() + duration
    async with httpx.AsyncClient(base_url=api.url, headers=api.headers, timeout=60,
                                 limits=limits) as c:
        async def timed(route: str, method: str, url: str):
            t = time.perf_counter()
            try:
                r = await c.request(method, url)
                ok = r.status_code < 400
            except httpx.HTTPError:
                r, ok = None, False
            lat[route].append(time.perf_counter() - t)
            if not ok:
                errors[route] += 1
            return r

        async def client(i: int) -> None:
            rng = random.Random(i)
            while time.perf_counter() < deadline:
                numero = rng.choice(pool)
                r = await timed(ROUTES[0], "POST", f"/api/desenvolvimento/buscar-os-async/{numero}")
                if r is not None and r.status_code == 200 and r.json().get("status") == "queued":
                    await timed(ROUTES[1], "GET", r.json()["instructions"]["check_status"])
                if rng.random() < 0.1:
                    await timed(ROUTES[2], "GET", "/api/desenvolvimento/queue-status")

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        elapsed = time.perf_counter() - started
    return {"lat": lat, "errors": errors, "elapsed": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="100,1000", help="comma-separated client counts")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per run")
    parser.add_argument("--pool", type=int, default=300, help="distinct OS numbers asked")
    args = parser.parse_args()

    workdir = make_workdir()
    demo = Demo(workdir)
    db_url = f"sqlite:///{workdir}/registro.db"
    upgrade(db_url)
    stack = Stack(workdir=workdir, demo=demo, redis_port=free_port(), db_url=db_url,
                  api_key="bench-key-" + str(time.time_ns()))
    stack.start_redis()
    env = {"REGISTRO_BROKER_VISIBILITY_TIMEOUT_S": 900, "REGISTRO_WORKER_HEARTBEAT_S": 2,
           "REGISTRO_REDIS_MAX_CONNECTIONS": 1500}
    pool, n = [], 20001
    while len(pool) < args.pool:
        if exists(str(n)):
            pool.append(str(n))
        n += 1
    api = None
    try:
        stack.start_worker("bench-api", **env)
        api = Api(stack, **env)
        for clients in (int(x) for x in args.clients.split(",")):
            res = asyncio.run(load(api, clients, args.duration, pool))
            total = sum(len(v) for v in res["lat"].values())
            print(f"\n{clients} concurrent clients, {res['elapsed']:.1f} s: "
                  f"{total} requests, {total / res['elapsed']:.0f} req/s")
            print(f"  {'route':22} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} "
                  f"{'errors':>7}")
            for route in ROUTES:
                values = res["lat"][route]
                if not values:
                    continue
                print(f"  {route:22} {len(values):8d} {len(values) / res['elapsed']:7.0f} "
                      f"{pct(values, .5) * 1000:8.1f} {pct(values, .99) * 1000:8.1f} "
                      f"{res['errors'][route] / len(values):7.2%}")
    finally:
        if api is not None:
            api.stop()
        stack.stop_workers()
        stack.stop_redis()
        demo.stop()


if __name__ == "__main__":
    main()
