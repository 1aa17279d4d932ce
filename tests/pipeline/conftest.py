"""Fixtures of the pipeline tests: one demo, one Redis, one DB, one worker, one API,
shared by the module's tests (starting them once keeps the suite short). Tests that stop
workers or Redis use ``private_stack``/``private_api``/``private_client`` (a stack of
their module's own), so no test depends on what another left running."""

from __future__ import annotations

import contextlib
import secrets
import shutil

import pytest

from tests.conftest import require
from tests.pipeline.harness import Api, Stack


@contextlib.contextmanager
def _new_stack():
    """Redis, the demo system and a SQLite database of their own, stopped afterwards."""
    require(shutil.which("redis-server") is not None, "redis-server")
    s = Stack.new(secrets.token_urlsafe(24))
    s.start_redis()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def stack(browser_available):
    with _new_stack() as s:
        yield s


@pytest.fixture(scope="module")
def private_stack(browser_available):
    """A stack of its own (Redis, demo, DB) for a module whose tests kill or restart
    parts of it, so that no other module depends on what they leave behind."""
    with _new_stack() as s:
        yield s


@pytest.fixture(scope="module")
def private_api(private_stack):
    a = Api(private_stack)
    yield a
    a.stop()


@pytest.fixture
def private_client(private_api):
    with private_api.client() as c:
        yield c


@pytest.fixture
def worker(stack):
    """A live worker: the one left by earlier tests, or a new one."""
    return stack.ensure_worker()


@pytest.fixture(scope="session")
def api(stack):
    a = Api(stack)
    yield a
    a.stop()


@pytest.fixture
def client(api):
    with api.client() as c:
        yield c
