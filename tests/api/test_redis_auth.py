"""Redis with a password and ``maxmemory`` + ``noeviction``, as the chart runs it
(redis.auth, redis.maxmemory): a real redis-server with ``requirepass``, a real Celery
worker and the real API, every client built from one ``REDIS_URL`` that carries the
password (``redis://:<password>@host:port/0``, what the chart's env interpolation makes).

Then Redis is filled up to its ``maxmemory``: what the API answers while writes fail, and
that it recovers once memory is freed (charts/registro/README.md, "Redis")."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from devstack import processes
from devstack.waits import wait_until
from registro import pipeline_state as state
from registro.db import session_scope, upgrade
from registro.legacy_demo.data import expected_record
from registro.records import save_scraped
from registro_operator.metrics_source import MetricsSource
from tests.api.conftest import api_env, start_api
from tests.conftest import require

STORED_OS = "1201"
POST = "/api/desenvolvimento/buscar-os-async/{}"
PASSWORD = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[dict]:
    require(shutil.which("redis-server") is not None, "redis-server")
    workdir = tmp_path_factory.mktemp("redis-auth")
    srv = processes.start_redis(extra_args=[
        "--requirepass", PASSWORD, "--maxmemory-policy", "noeviction"])
    url = f"redis://:{PASSWORD}@127.0.0.1:{srv.port}/0"
    db_url = f"sqlite:///{workdir}/registro.db"
    upgrade(db_url)
    with session_scope(db_url) as session:
        save_scraped(session, expected_record(STORED_OS))
    key = secrets.token_urlsafe(24)
    env = api_env(workdir, db_url, key, REDIS_URL=url)
    hostname = "auth@test"
    # The worker consumes another queue: lookups stay queued (no browser needed here).
    worker = processes.start_worker(env, hostname=hostname, pool="solo",
                                    queues="held-by-auth-tests",
                                    log_path=workdir / "worker.log")
    api = None
    client = redis.Redis.from_url(url)
    try:
        wait_until(lambda: worker.proc.poll() is not None or hostname in state.live_worker_tasks(client),
                   60, what="the worker's heartbeat")
        assert worker.proc.poll() is None, (workdir / "worker.log").read_text()[-3000:]
        api = start_api(env, workdir / "api.log")
        yield {"redis": client, "url": url, "port": srv.port, "api": api.url,
               "headers": {"Authorization": f"Bearer {key}"}, "workdir": workdir}
    finally:
        if api is not None:
            api.stop(timeout=30)
        worker.stop(timeout=30)
        client.close()
        srv.stop()


def test_redis_refuses_clients_without_the_password(stack):
    anonymous = redis.Redis(host="127.0.0.1", port=stack["port"], socket_timeout=5)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    anonymous.close()


def test_every_client_authenticates_with_the_url(stack):
    with httpx.Client(base_url=stack["api"], headers=stack["headers"], timeout=30) as c:
        status = c.get("/api/desenvolvimento/queue-status").json()
        assert status["celery_available"], status  # the worker's heartbeat, via the API
        body = c.post(POST.format("4101")).json()
        assert body["status"] == "queued" and body["via"] == "fila", body  # claim + publish
        assert c.post(POST.format(STORED_OS)).status_code == 200
    # the Celery broker holds the task; the operator's metrics source counts it
    source = MetricsSource.from_spec({"redis": {"queue": "scraping"}}, redis_url=stack["url"])
    assert source.read() >= 1
    assert "scraping" in source.describe() and PASSWORD not in source.describe()


def test_a_full_redis_refuses_writes_and_the_api_still_answers(stack):
    client: redis.Redis = stack["redis"]
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used + 2 * 1024 * 1024)
    filler = b"x" * 100_000
    n, refused = 0, None
    while refused is None:  # until Redis refuses: nothing is evicted (noeviction)
        try:
            client.set(f"filler:{n}", filler)
            n += 1
        except redis.exceptions.ResponseError as exc:
            refused = exc
    assert isinstance(refused, redis.exceptions.OutOfMemoryError), refused
    assert n > 0 and client.exists("filler:0")
    assert client.info("stats")["evicted_keys"] == 0
    # The refused SET's own 100 kB buffer is freed after the refusal, leaving room for
    # small writes: hold Redis over its limit, as a full Redis under load is.
    client.config_set("maxmemory", int(client.info("memory")["used_memory"]) - 512 * 1024)
    try:
        with httpx.Client(base_url=stack["api"], headers=stack["headers"], timeout=30) as c:
            # A stored record is read from the database: still answered.
            stored = c.post(POST.format(STORED_OS))
            assert stored.status_code == 200, stored.text
            # A new OS cannot be claimed or queued: the API takes its synchronous fallback,
            # here with no browser (REGISTRO_FALLBACK_MAX_BROWSERS=0): 503 + Retry-After.
            new = c.post(POST.format("4102"))
            assert new.status_code == 503, new.text
            assert int(new.headers["Retry-After"]) >= 1
            assert c.get("/healthz").status_code == 200
            metrics = c.get("/metrics").text
        assert 'registro_api_fallbacks_total{cause="publish_failed",outcome="rejected"}' \
            in metrics or 'cause="no_worker",outcome="rejected"' in metrics, metrics[-2000:]
    finally:
        client.delete(*[f"filler:{i}" for i in range(n)])
        client.config_set("maxmemory", 0)
    # Memory freed: the queue path serves again.
    with httpx.Client(base_url=stack["api"], headers=stack["headers"], timeout=30) as c:
        def queued():
            body = c.post(POST.format("4103")).json()
            return body if body.get("via") == "fila" else None
        body = wait_until(queued, 30, what="the queue path after memory was freed")
        assert body["status"] == "queued", body


def test_the_logs_never_show_the_password(stack):
    for name in ("api.log", "worker.log"):
        text = (Path(stack["workdir"]) / name).read_text(errors="replace")
        assert PASSWORD not in text, name
