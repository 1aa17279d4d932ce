"""Shared fixtures: real services started per test session.

A test that needs a part this machine lacks skips on a laptop, but fails under
``CI=true``: in CI nothing may be skipped silently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from devstack import processes

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, what: str) -> None:
    """Skip (laptop) or fail (CI) when a real component is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required component missing under CI=true: {what}", pytrace=False)
    pytest.skip(f"missing component: {what}")


@pytest.fixture(scope="session")
def redis_server():
    """A private Redis for the whole session; tests flush what they use."""
    require(shutil.which("redis-server") is not None, "redis-server")
    srv = processes.start_redis()
    yield srv
    srv.stop()


@pytest.fixture
def redis_url(redis_server):
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture(scope="session")
def postgres_server():
    require(processes._pg_bindir() is not None, "PostgreSQL server (initdb/postgres)")
    srv = processes.start_postgres()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser_available():
    require(Path("/usr/bin/chromium").exists(), "/usr/bin/chromium")
    require(Path("/usr/bin/chromedriver").exists(), "/usr/bin/chromedriver")


@pytest.fixture
def sqlite_url(tmp_path):
    from registro.db import upgrade

    url = f"sqlite:///{tmp_path}/registro.db"
    upgrade(url)
    return url


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh database on the session's PostgreSQL server, migrated to head."""
    import uuid

    import sqlalchemy as sa

    from registro.db import upgrade

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request):
    """Run a persistence test on both supported databases."""
    return request.getfixturevalue(f"{request.param}_url")


# --- demo legacy system (legacy_demo/) ----------------------------------------------


@pytest.fixture(scope="session")
def demo_site():
    """The demo legacy ERP, running for the whole session on a free loopback port."""
    from tests.support.demo import running_demo

    with running_demo() as server:
        yield server


@pytest.fixture
def demo(demo_site):
    """The session's demo with faults and counters reset before the test."""
    demo_site.reset()
    return demo_site


@pytest.fixture(scope="session")
def portal_site():
    """The second demo site, "Portal OS" (legacy_demo/portal/), for the whole session."""
    from tests.support.demo import running_demo

    with running_demo(site="portal") as server:
        yield server


@pytest.fixture
def portal(portal_site):
    """The session's portal with faults, counters and OS changes reset before the test."""
    portal_site.reset()
    return portal_site


# --- operator (issue 4): a real Kubernetes API server -------------------------------
# etcd + kube-apiserver built by scripts/build-k8s.sh (make k8s-tools), started on
# loopback for the session; or the cluster of $KUBECONFIG when it points at a file.


@pytest.fixture(scope="session")
def kube_cluster():
    from tests.support import kube

    external = os.environ.get("KUBECONFIG")
    if external and Path(external).is_file():
        cluster = kube.external_cluster(Path(external))
    else:
        bins = kube.bin_dir()
        require(bins is not None,
                 f"Kubernetes control plane {kube.K8S_VERSION} (make k8s-tools)")
        cluster = kube.start_control_plane(bins)
    yield cluster
    cluster.stop()


# --- end of operator block --------------------------------------------------------


# --- time per test folder (scripts/fresh-machine-check.sh prints these lines) --------

_folder_seconds: dict[str, float] = {}
_module_seconds: dict[str, float] = {}
MODULE_SECONDS = Path(__file__).with_name("module-seconds.txt")


def pytest_runtest_logreport(report):
    module = report.nodeid.split("::", 1)[0]
    parts = module.split("/")
    folder = "/".join(parts[:2]) if len(parts) > 2 else parts[0]
    _folder_seconds[folder] = _folder_seconds.get(folder, 0.0) + report.duration
    _module_seconds[module] = _module_seconds.get(module, 0.0) + report.duration


def pytest_collection_modifyitems(config, items):
    """Under xdist, the longest modules first (by tests/module-seconds.txt): loadscope
    hands modules out in collection order, so a long module picked up last would run on
    alone while the other worker idles (longest-first scheduling)."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or not MODULE_SECONDS.exists():
        return
    weights = {}
    for line in MODULE_SECONDS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            seconds, module = line.split()
            weights[module] = float(seconds)
    order = {id(item): i for i, item in enumerate(items)}
    items.sort(key=lambda item: (-weights.get(item.nodeid.split("::", 1)[0], 0.0),
                                 order[id(item)]))


def pytest_terminal_summary(terminalreporter):
    if not _folder_seconds:
        return
    terminalreporter.write_sep("-", "test time per folder (setup + call + teardown, "
                                    "summed over parallel workers)")
    for folder, seconds in sorted(_folder_seconds.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"[phase] pytest {folder}: {seconds:.0f} s")
    out = os.environ.get("REGISTRO_MODULE_SECONDS_OUT")  # refreshes tests/module-seconds.txt
    if out:  # merged: each of make test's lanes adds the modules it ran
        known = {}
        if Path(out).exists():
            for line in Path(out).read_text().splitlines():
                if line.strip() and not line.startswith("#"):
                    seconds, module = line.split()
                    known[module] = float(seconds)
        rows = sorted({**known, **_module_seconds}.items(), key=lambda kv: -kv[1])
        Path(out).write_text("# seconds per module (setup + call + teardown), measured by a"
                             " run with REGISTRO_MODULE_SECONDS_OUT set\n"
                             + "".join(f"{s:.0f} {m}\n" for m, s in rows))
