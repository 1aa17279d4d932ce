"""Refresh backlog benchmark: how long user lookups wait while a large backlog of
background refreshes waits in the queue.

    make bench-refresh                                        # 5 users, backlog of 60
    .venv/bin/python benchmarks/bench_refresh_priority.py --users 5 --backlog 60

One platform (Redis with AOF, the demo legacy system, a SQLite DB, the API, one Celery
worker with one browser), three runs, distinct OS numbers each, the users' lookups
submitted together once the run's backlog is in place:

1. no backlog: the users' wait on an idle worker;
2. backlog at priority 9 (Registro): ``--backlog`` open OS stored as read 2 h ago, the
   scheduler publishes them all (REFRESH_MAX_IN_FLIGHT = the backlog, so the whole
   backlog waits in the queue: the worst case the bound normally prevents);
3. backlog at priority 0 (baseline: the same refreshes published like user lookups, as
   they would be without the lower-priority path).

Reports per run: the users' wait (POST until SUCCESS) median and max, and how many
backlog refreshes finished while the users waited; then each run's median over run 1's.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time

import httpx

from devstack.stack import (
    Api,
    Stack,
    open_numeros,
    read_times,
    seed_records,
)
from devstack.waits import wait_until
from registro import publishing
from registro.celery_config import make_celery
from registro.queue import read_queue_depth
from registro.settings import Settings

POST = "/api/desenvolvimento/buscar-os-async/{}"
STATUS = "/api/desenvolvimento/scraping-status/{}"


def users_wait(client: httpx.Client, numeros: list[str], timeout: float) -> list[float]:
    """Submit the lookups together; each one's seconds from its POST until SUCCESS."""
    started: dict[str, float] = {}
    for n in numeros:
        started[n] = time.monotonic()
        body = client.post(POST.format(n)).json()
        assert body["status"] == "queued", body
    done: dict[str, float] = {}

    def all_done() -> bool:
        for n in numeros:
            if n in done:
                continue
            status = client.get(STATUS.format(f"scraping_{n}")).json()["status"]
            if status == "SUCCESS":
                done[n] = time.monotonic() - started[n]
            elif status == "FAILURE":
                raise RuntimeError(f"lookup of {n} failed")
        return len(done) == len(numeros)

    wait_until(all_done, timeout, interval=0.05, what="every lookup to succeed",
               diagnose=lambda: f"unfinished: {sorted(set(numeros) - set(done))}")
    return [done[n] for n in numeros]


def warm(client: httpx.Client, numero: str) -> None:
    users_wait(client, [numero], timeout=180)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--backlog", type=int, default=60)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    stack = Stack.new(secrets.token_urlsafe(24))
    db_url = stack.db_url
    stack.start_redis()
    api = Api(stack)
    client = api.client()
    redis_client = stack.redis()
    numbers = iter(open_numeros(3 * (args.users + args.backlog + 1), start=60000))

    def take(count: int) -> list[str]:
        return [next(numbers) for _ in range(count)]

    rows: list[tuple[str, list[float], int]] = []
    refresh_env = {"REGISTRO_REFRESH_AFTER_S": 1800, "REGISTRO_REFRESH_INTERVAL_S": 1,
                   "REGISTRO_REFRESH_BUDGET_SHARE": 1.0,
                   "REGISTRO_REFRESH_MAX_IN_FLIGHT": args.backlog}
    try:
        # 1. no backlog
        stack.start_worker("bench-idle", REGISTRO_REFRESH_ENABLED="false")
        warm(client, take(1)[0])
        rows.append(("no backlog", users_wait(client, take(args.users), args.timeout), 0))
        stack.stop_workers()

        # 2. backlog at priority 9, published by the scheduler
        backlog = take(args.backlog)
        now = time.time()
        stack.start_worker("bench-refresh", **refresh_env)
        warm(client, take(1)[0])
        seed_records(db_url, {n: now - 7200 - i for i, n in enumerate(backlog)})
        wait_until(lambda: read_queue_depth(redis_client).waiting >= 0.8 * args.backlog, 120,
                   what="the scheduler to publish the backlog")
        submitted = time.time()
        waits = users_wait(client, take(args.users), args.timeout)
        passed = sum(1 for t in read_times(db_url, backlog).values() if t and t > submitted)
        rows.append(("backlog, priority 9 (Registro)", waits, passed))
        stack.stop_workers()
        redis_client.flushall()  # the rest of the backlog and its claims

        # 3. the same backlog at priority 0 (no lower-priority path)
        backlog = take(args.backlog)
        stack.start_worker("bench-flat", REGISTRO_REFRESH_ENABLED="false")
        warm(client, take(1)[0])
        settings = Settings(redis_url=stack.redis_url)
        celery = make_celery(settings)
        for n in backlog:
            token = publishing.claim(redis_client, settings, n)
            assert token is not None
            publishing.publish_claimed(redis_client, celery, n, token,
                                       priority=publishing.USER_PRIORITY, refresh=True)
        submitted = time.time()
        waits = users_wait(client, take(args.users), args.timeout)
        passed = sum(1 for t in read_times(db_url, backlog).values() if t and t > submitted)
        rows.append(("backlog, priority 0 (baseline)", waits, passed))
        celery.close()
    finally:
        client.close()
        api.stop()
        stack.close()

    base = statistics.median(rows[0][1])
    print(f"\n{args.users} user lookups submitted together, one worker; backlog {args.backlog}")
    print(f"{'run':34} {'median wait':>12} {'max wait':>9} {'backlog done meanwhile':>23} "
          f"{'median / idle':>14}")
    for name, waits, passed in rows:
        median = statistics.median(waits)
        print(f"{name:34} {median:11.1f}s {max(waits):8.1f}s {passed:23d} "
              f"{median / base:13.2f}x")


if __name__ == "__main__":
    main()
