"""Fixtures of the scraper tests: a static second legacy site served over real HTTP."""

from __future__ import annotations

import functools
import sqlite3
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SITE2 = Path(__file__).with_name("site2")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture(scope="session")
def site2_url():
    """The "Oficina 2000" static site on a loopback port."""
    handler = functools.partial(_QuietHandler, directory=str(SITE2))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def demo(demo):
    """The shared demo (tests/conftest.py), also with no logged-in session left over."""
    demo.expire_sessions()
    return demo


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    """A SQLite database at the schema's head, copied by ``scraper_db`` (cheaper than
    migrating one per test)."""
    from registro.db import upgrade

    path = tmp_path_factory.mktemp("template") / "registro.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def scraper_db(migrated_template, tmp_path) -> str:
    """A migrated database of the test's own: where a failure's evidence goes."""
    target = tmp_path / "registro.db"
    with sqlite3.connect(migrated_template) as src, sqlite3.connect(target) as dst:
        src.backup(dst)  # consistent, WAL included
    return f"sqlite:///{target}"


@pytest.fixture
def demo_settings(demo, tmp_path, scraper_db, browser_available):
    from registro.settings import Settings

    return Settings(
        legacy_url=demo.url, legacy_username="demo", legacy_password="demo",
        site_profile=None, artifacts_dir=tmp_path / "artifacts", page_timeout_s=10,
        selenium_url=None, session_max_scrapes=50, database_url=scraper_db,
    )
