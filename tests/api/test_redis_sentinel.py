"""Sentinel mode (REGISTRO_REDIS_SENTINELS): real redis-server processes on loopback, one
master and two replicas with a password (requirepass + masterauth), three real
Sentinels (``redis-server --sentinel``, quorum 2, ``auth-pass``, their own
``requirepass``), as the chart's ``redis.sentinel.enabled`` runs them.

Every client comes from ``registro.redis_clients``; each test moves the master (a
``SENTINEL FAILOVER``, then a SIGKILL of the master) and checks that the same client
objects, built before, now write to the promoted replica: the API's sync and asyncio
clients, the workers' client, and Celery's broker (publish) and result backend."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from devstack import processes
from devstack.waits import wait_until
from registro import redis_clients
from registro.api.deps import make_async_redis, make_redis
from registro.celery_config import make_celery
from registro.queue import QUEUE_NAME
from registro.settings import Settings
from tests.conftest import require

PASSWORD = secrets.token_urlsafe(24)
MASTER = "registro"


def _server(args: list[str], port: int, log: Path) -> processes.ManagedProcess:
    managed = processes.spawn("redis", [shutil.which("redis-server") or "redis-server",
                                        *args], log_path=log, port=port)
    processes.wait_for_port(port, proc=managed.proc)
    return managed


def _admin(port: int) -> redis.Redis:
    return redis.Redis(port=port, password=PASSWORD, socket_timeout=5, decode_responses=True)


@pytest.fixture
def sentinel_set(tmp_path) -> Iterator[dict]:
    require(shutil.which("redis-server") is not None, "redis-server")
    started: list[processes.ManagedProcess] = []
    ports = [processes.free_port() for _ in range(3)]
    try:
        for i, port in enumerate(ports):
            d = tmp_path / f"redis{i}"
            d.mkdir()
            args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(d), "--save", "",
                    "--appendonly", "yes", "--requirepass", PASSWORD, "--masterauth", PASSWORD]
            if i:
                args += ["--replicaof", "127.0.0.1", str(ports[0])]
            started.append(_server(args, port, tmp_path / f"redis{i}.log"))
        wait_until(lambda: [_admin(ports[0]).info("replication").get(f"slave{i}", {}).get(
            "state") for i in (0, 1)] == ["online", "online"], 30, what="two replicas online")
        sentinels = [processes.free_port() for _ in range(3)]
        for port in sentinels:
            conf = tmp_path / f"sentinel-{port}.conf"  # Sentinel rewrites its file
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\nrequirepass \"{PASSWORD}\"\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {ports[0]} 2\n"
                f"sentinel auth-pass {MASTER} {PASSWORD}\n"
                f"sentinel down-after-milliseconds {MASTER} 2000\n"
                f"sentinel failover-timeout {MASTER} 10000\n")
            started.append(_server([str(conf), "--sentinel"], port,
                                   tmp_path / f"sentinel-{port}.log"))
        # every Sentinel knows the other two and both replicas before a failover
        wait_until(lambda: all(
            int(_admin(p).sentinel_master(MASTER)["num-other-sentinels"]) == 2
            and int(_admin(p).sentinel_master(MASTER)["num-slaves"]) == 2
            for p in sentinels), 60, what="three Sentinels that know each other")
        settings = Settings(
            redis_url=f"redis://:{PASSWORD}@127.0.0.1:{ports[0]}/0",
            redis_sentinels=",".join(f"127.0.0.1:{p}" for p in sentinels),
            redis_master_name=MASTER)
        yield {"servers": dict(zip(ports, started[:3], strict=True)), "sentinels": sentinels,
               "settings": settings}
    finally:
        for proc in reversed(started):
            proc.stop()


def master_port(sentinel_port: int) -> int:
    _host, port = _admin(sentinel_port).sentinel_get_master_addr_by_name(MASTER)
    return int(port)


def role(port: int) -> str | None:
    try:
        return _admin(port).execute_command("ROLE")[0]
    except redis.ConnectionError:
        return None  # killed


def promoted(env: dict, old: int) -> int:
    """The new master's port once a Sentinel names it, it says it is a master and the
    old master, if it still runs, has been turned into its replica. Until then both
    accept writes: what reaches the old one is dropped when it becomes a replica (the
    window charts/registro/README.md documents)."""
    def ready() -> int | None:
        port = master_port(env["sentinels"][0])
        if port == old or role(port) != "master" or role(old) == "master":
            return None
        return port
    return wait_until(ready, 60, 0.2, what="a replica promoted, the old master demoted")


def served_by(client: redis.Redis) -> int:
    """The port of the server that answered (its INFO), and that it is a master."""
    info = client.info("server")
    assert client.execute_command("ROLE")[0] in ("master", b"master")
    return int(info["tcp_port"])


def test_clients_follow_a_failover(sentinel_set):
    env, settings = sentinel_set, sentinel_set["settings"]
    old = master_port(env["sentinels"][0])
    api_sync, api_async = make_redis(settings), make_async_redis(settings)
    worker = redis_clients.sync_client(settings, socket_timeout=10, socket_connect_timeout=5,
                                       health_check_interval=30)
    assert served_by(api_sync) == served_by(worker) == old
    api_sync.set("before", "1")

    async def async_port() -> int:
        await api_async.set("async", "1")
        return int((await api_async.info("server"))["tcp_port"])

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(async_port()) == old
        _admin(env["sentinels"][1]).execute_command("SENTINEL", "FAILOVER", MASTER)
        new = promoted(env, old)
        t0 = time.monotonic()
        # the pooled connections to the old master fail once (it is a replica now:
        # READONLY, or the connection is closed), then the pools ask the Sentinels again
        for client in (api_sync, worker):
            wait_until(lambda c=client: _wrote(c), 30, 0.1, what="a write after the failover")
            assert served_by(client) == new
        wait_until(lambda: _wrote_async(loop, api_async), 30, 0.1,
                   what="an asyncio write after the failover")
        assert loop.run_until_complete(async_port()) == new
        print(f"\n[sentinel] SENTINEL FAILOVER {old} -> {new}: clients writing again "
              f"{time.monotonic() - t0:.2f} s after the promotion was visible")
        assert api_sync.get("before") == b"1"  # replicated before the failover
    finally:
        loop.run_until_complete(api_async.aclose())
        loop.close()
        api_sync.close()
        worker.close()


def _wrote(client: redis.Redis) -> bool:
    try:
        return bool(client.set("after", "1"))
    except redis.RedisError:
        return False


def _wrote_async(loop, client) -> bool:
    try:
        return bool(loop.run_until_complete(client.set("after-async", "1")))
    except redis.RedisError:
        return False


def test_celery_publishes_and_stores_results_across_a_killed_master(sentinel_set):
    env, settings = sentinel_set, sentinel_set["settings"]
    app = make_celery(settings)
    assert app.conf.broker_url.startswith("sentinel://")
    old = master_port(env["sentinels"][0])
    app.send_task("registro.test.noop", args=["before"], task_id="sentinel-before",
                  queue=QUEUE_NAME)
    app.backend.store_result("sentinel-before", {"ok": 1}, "SUCCESS")
    # both writes on the replicas before the master dies (WAIT: the bound the chart
    # documents for the failover window)
    assert _admin(old).execute_command("WAIT", 2, 5000) == 2
    t0 = time.monotonic()
    env["servers"][old].proc.kill()
    new = promoted(env, old)
    promoted_s = time.monotonic() - t0
    # The other replica follows the new master before the second write, which is then
    # replicated (WAIT below): under load (load average 8-13) a Sentinel may judge the
    # new master down too and promote the other replica; an unreplicated write is lost
    # then, the window the chart documents (minReplicasToWrite), not what this proves.
    wait_until(lambda: int(_admin(new).info("replication")["connected_slaves"]) >= 1, 60,
               what="the other replica following the promoted master")

    def published() -> bool:
        try:
            app.send_task("registro.test.noop", args=["after"], task_id="sentinel-after",
                          queue=QUEUE_NAME)
            app.backend.store_result("sentinel-after", {"ok": 2}, "SUCCESS")
            return True
        except Exception:  # noqa: BLE001 - the old pooled connections fail once
            return False

    wait_until(published, 60, 0.2, what="Celery publishing to the promoted master")
    writable_s = time.monotonic() - t0
    print(f"\n[sentinel] master {old} SIGKILLed: replica {new} promoted after "
          f"{promoted_s:.1f} s, Celery publishing and storing again after {writable_s:.1f} s")
    assert _admin(new).execute_command("WAIT", 1, 5000) == 1
    queued = _admin(master_port(env["sentinels"][0])).lrange(QUEUE_NAME, 0, -1)
    assert sum('"sentinel-before"' in m for m in queued) == 1, queued
    assert sum('"sentinel-after"' in m for m in queued) == 1, queued
    assert app.AsyncResult("sentinel-before").result == {"ok": 1}
    assert app.AsyncResult("sentinel-after").result == {"ok": 2}
    assert app.AsyncResult("sentinel-after").state == "SUCCESS"


def test_sentinel_settings_are_parsed_and_tls_refused():
    settings = Settings(redis_url="redis://:pw@ignored:6379/2",
                        redis_sentinels=" a:1, b ,c:26380,")
    assert redis_clients.sentinel_hosts(settings) == [("a", 1), ("b", 26379), ("c", 26380)]
    broker, backend = redis_clients.celery_urls(settings)
    assert broker == backend == ("sentinel://:pw@a:1/2;sentinel://:pw@b:26379/2;"
                                 "sentinel://:pw@c:26380/2")
    assert redis_clients.celery_urls(Settings(redis_url="redis://x:6379/0")) == (
        "redis://x:6379/0", "redis://x:6379/0")
    with pytest.raises(ValueError, match="TLS"):
        redis_clients.sentinel_hosts(Settings(redis_url="rediss://x:6380/0",
                                              redis_sentinels="a:1"))
