"""CPU per request of each hot route inside the API process, without the HTTP server.

    .venv/bin/python benchmarks/bench_api_routes.py            # 2,000 calls x 5 rounds
    .venv/bin/python benchmarks/bench_api_routes.py --profile scraping-status

The production app (``create_app``) is called as an ASGI application, one request at a
time, on uvloop, against a private Redis and a SQLite database holding one stored OS
and one finished task (a real ``expected_record`` of the demo system, 48 fields). It
prints the CPU time per request (user + system of this process, every thread
included, so threadpool hops count) of each route, best of the rounds: the machine is
shared and noisy, and the best round is the one least disturbed. ``GET /healthz`` is
the floor. ``--profile ROUTE`` prints cProfile's cumulative view of that route.

This is the figure the hot-path changes were decided on (api/README.md); the served
figures, with uvicorn, the network and paced users, come from ``bench_api_paced.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import os
import pstats
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devstack import processes
from devstack.stack import make_workdir

BASE = "/api/desenvolvimento"
NUMERO_OS = "1201"
TASK_ID = f"scraping_{NUMERO_OS}"
ROUTES = {
    "healthz": ("GET", "/healthz"),
    "scraping-status": ("GET", f"{BASE}/scraping-status/{TASK_ID}"),
    "queue-status": ("GET", f"{BASE}/queue-status"),
    "found_existing": ("POST", f"{BASE}/buscar-os-async/{NUMERO_OS}"),
    "queued (new OS)": ("POST", f"{BASE}/buscar-os-async/{{n}}"),
}
NEW_OS = itertools.count(10**9)  # "{n}": a new OS each call, none stored or queued


def prepare(redis_url: str, db_url: str, key: str) -> Any:
    """The app, with one stored OS and one finished task for it."""
    os.environ.update(REGISTRO_REDIS_URL=redis_url, REGISTRO_DATABASE_URL=db_url,
                      REGISTRO_API_KEYS=key, REGISTRO_API_RATE_LIMIT_PER_MINUTE=str(10**9))
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    import redis

    from registro import pipeline_state as state
    from registro.api.main import create_app
    from registro.db import session_scope, upgrade
    from registro.legacy_demo.data import expected_record
    from registro.records import public_data, save_scraped

    upgrade(db_url)
    record = expected_record(NUMERO_OS)
    with session_scope(db_url) as session:
        ids = save_scraped(session, record)
    app = create_app()
    client = redis.Redis.from_url(redis_url)
    state.record_task(client, TASK_ID, NUMERO_OS, "bench")
    # A worker online (its heartbeat, for the whole run), so new OS are queued; nothing
    # consumes them.
    state.heartbeat(client, "bench-idle-worker", concurrency=1, ttl_s=24 * 3600)
    app.state.celery.backend.store_result(
        TASK_ID, {"status": "success", "data": public_data(record), "cliente_id": ids.cliente_id,
                  "equipamento_id": ids.equipamento_id, "scraped_fields": record.field_count()},
        "SUCCESS")
    return app


async def call(app: Any, method: str, path: str, key: str) -> int:
    path = path.replace("{n}", str(next(NEW_OS)))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80), "state": {},
             "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {key}".encode())]}
    status = 0

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def run(app: Any, key: str, calls: int, rounds: int, profile: str | None) -> None:
    for name, (method, path) in ROUTES.items():
        status = await call(app, method, path, key)
        if status != 200:
            raise RuntimeError(f"{name}: HTTP {status}")
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, (method, path) in ROUTES.items():
            started = time.process_time()
            for _ in range(calls):
                await call(app, method, path, key)
            per_call = (time.process_time() - started) / calls
            best[name] = min(best.get(name, float("inf")), per_call)
    print(f"CPU per request, in-process, best of {rounds} rounds of {calls} calls "
          f"(load average {os.getloadavg()[0]:.1f}):")
    for name, seconds in best.items():
        print(f"  {name:16} {seconds * 1e6:6.0f} us   {seconds / best['healthz']:4.1f}x healthz")
    if profile:
        method, path = ROUTES[profile]
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            await call(app, method, path, key)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per route per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=sorted(ROUTES), help="cProfile one route")
    args = parser.parse_args()
    workdir = make_workdir()
    redis_server = processes.start_redis()
    try:
        key = secrets.token_urlsafe(24)
        app = prepare(redis_server.url, f"sqlite:///{workdir}/registro.db", key)
        import uvloop

        uvloop.run(run(app, key, args.calls, args.rounds, args.profile))
    finally:
        redis_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
