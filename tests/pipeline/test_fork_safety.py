"""A Celery pool process is forked from the worker's main process, whose threads
(heartbeat, reconciler, refresh) use Redis and the database at any moment. What a child
inherits mid-use must not hang or be shared: seen in CI, a replacement pool process
inherited the Redis pool's lock held and waited on it until the hard time limit."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from sqlalchemy import text

from registro import db
from registro.settings import get_settings

pytestmark = [pytest.mark.redis]


def _exit_code_of(pid: int, timeout: float = 30) -> int | None:
    """The child's exit code, or None (then killed) if it is still running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def _fork_while(hold, child) -> int | None:
    """Fork while a thread of this process is inside ``hold()``; run ``child()`` in the
    child (exit 0 when it returns True)."""
    inside, release = threading.Event(), threading.Event()

    def holder():
        with hold():
            inside.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    assert inside.wait(10)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            code = 0 if child() else 2
        finally:
            os._exit(code)
    release.set()
    thread.join()
    return _exit_code_of(pid)


def test_a_pool_process_forked_while_a_thread_holds_the_redis_pool_gets_its_own_client(
        redis_url, monkeypatch):
    monkeypatch.setenv("REGISTRO_REDIS_URL", redis_url)
    get_settings.cache_clear()
    from registro.worker import runtime

    try:
        parent = runtime.redis_client()
        assert parent.ping()
        code = _fork_while(lambda: parent.connection_pool._lock,
                           lambda: runtime.redis_client().ping()
                           and runtime.redis_client() is not parent)
        assert code == 0, "the child hung on the inherited lock" if code is None else code
        assert runtime.redis_client() is parent and parent.ping()  # the parent's is intact
    finally:
        get_settings.cache_clear()


def test_a_forked_process_opens_its_own_database_engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'fork.db'}"
    parent = db.get_engine(url)
    with parent.connect() as conn:  # a pooled connection the child must not reuse
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.commit()

    def child() -> bool:
        engine = db.get_engine(url)
        with engine.connect() as conn:
            return engine is not parent and conn.execute(text("SELECT count(*) FROM t")) \
                .scalar_one() == 0

    assert _fork_while(parent.connect, child) == 0
    assert db.get_engine(url) is parent
