"""Fixtures of the operator tests: the CRD, a namespace with the operator's RBAC and a
ServiceAccount kubeconfig, the real API's /metrics over a real Redis queue, and the
operator itself run in-process with kopf's KopfRunner."""

from __future__ import annotations

import contextlib
import copy
import os
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from devstack import processes
from devstack.processes import free_port
from devstack.waits import wait_until
from registro.queue import QUEUE_NAME, TASK_NAME

REPO = Path(__file__).resolve().parents[2]
CRD_PATH = REPO / "charts" / "registro" / "crds" / "scraperpools.yaml"
RBAC_PATH = REPO / "operator" / "rbac.yaml"
GROUP, VERSION, PLURAL = "registro.dev", "v1alpha1", "scraperpools"


@pytest.fixture(scope="session")
def admin_api(kube_cluster):
    client = kube_cluster.api_client()
    yield client
    client.close()


@pytest.fixture(scope="session")
def scraperpool_crd(kube_cluster, admin_api):
    """Install the chart's CRD and wait until it is served."""
    import kubernetes

    kube_cluster.kubectl("apply", "--server-side", "-f", str(CRD_PATH))
    ext = kubernetes.client.ApiextensionsV1Api(admin_api)

    def established():
        crd = ext.read_custom_resource_definition(f"{PLURAL}.{GROUP}")
        return any(c.type == "Established" and c.status == "True"
                   for c in (crd.status.conditions or []))

    wait_until(established, 30, what="CRD Established")
    # discovery catches up a moment later
    wait_until(lambda: kube_cluster.kubectl("get", PLURAL, "-A", check=False).returncode == 0,
               30, what="scraperpools served")
    return CRD_PATH


@pytest.fixture
def namespace(kube_cluster, admin_api):
    import kubernetes

    core = kubernetes.client.CoreV1Api(admin_api)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    with contextlib.suppress(Exception):
        core.delete_namespace(name)  # no namespace controller here: objects stay in etcd


def rbac_documents(namespace: str) -> list[dict]:
    docs = [d for d in yaml.safe_load_all(RBAC_PATH.read_text()) if d]
    for d in docs:
        d["metadata"]["namespace"] = namespace
        for s in d.get("subjects", []):
            s["namespace"] = namespace
    return docs


@pytest.fixture
def operator_kubeconfig(kube_cluster, scraperpool_crd, namespace):
    """Apply operator/rbac.yaml in the namespace; a kubeconfig with the ServiceAccount's token."""
    docs = rbac_documents(namespace)
    kube_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))
    return kube_cluster.service_account_kubeconfig(namespace, "registro-operator")


def deployment(name: str, replicas: int = 1) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "terminationGracePeriodSeconds": 330,
                "containers": [{"name": "worker", "image": "registro-worker:test"}],
            }},
        },
    }


def scraperpool(name: str, target: str, metrics_url: str, **spec) -> dict:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "ScraperPool",
        "metadata": {"name": name},
        "spec": {"targetRef": {"name": target},
                 "metrics": {"endpoint": {"url": metrics_url}, "timeoutSeconds": 2}},
    }
    body["spec"].update(spec)
    return copy.deepcopy(body)


# --- the pipeline's real metrics endpoint over a real queue ------------------------


class QueueApi:
    """The Registro API (uvicorn subprocess) whose /metrics exports registro_queue_depth
    from the Redis it is given. ``stop()``/``start()`` simulate an outage."""

    def __init__(self, redis_url: str, workdir: Path):
        self.redis_url = redis_url
        self.workdir = workdir
        self.port = free_port()
        self.managed: processes.ManagedProcess | None = None

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.managed.proc if self.managed else None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def start(self, database_url: str | None = None) -> None:
        env = dict(os.environ,
                   REGISTRO_REDIS_URL=self.redis_url,
                   REGISTRO_API_KEYS=uuid.uuid4().hex,
                   REGISTRO_DATABASE_URL=database_url or f"sqlite:///{self.workdir}/api.db",
                   REGISTRO_FALLBACK_MAX_BROWSERS="0")
        self.managed = processes.start_api(env, port=self.port, cwd=self.workdir,
                                           log_path=self.workdir / "api.log",
                                           extra_args=["--log-level", "warning"])

    def stop(self) -> None:
        if self.managed is not None:
            self.managed.stop(timeout=10)
        self.managed = None

    def close(self) -> None:
        self.stop()


@pytest.fixture(scope="session")
def queue_api_server(redis_server, tmp_path_factory):
    api = QueueApi(redis_server.url, tmp_path_factory.mktemp("queue-api"))
    api.start()
    yield api
    api.close()


@pytest.fixture
def queue_api(queue_api_server, redis_url):
    """The session's API over a freshly flushed Redis, (re)started if a test stopped it."""
    if queue_api_server.proc is None:
        queue_api_server.start()
    yield queue_api_server
    if queue_api_server.proc is None:
        queue_api_server.start()


class RealQueue:
    """Real Celery task messages in Redis, with no worker consuming them."""

    def __init__(self, redis_url: str):
        from celery import Celery

        self.app = Celery("registro-operator-tests", broker=redis_url)

    def enqueue(self, n: int) -> None:
        for i in range(n):
            self.app.send_task(TASK_NAME, args=[f"{900000 + i}"], queue=QUEUE_NAME)

    def drain(self) -> int:
        with self.app.connection_for_write() as conn:
            return conn.default_channel.queue_purge(QUEUE_NAME) or 0

    def close(self) -> None:
        self.app.close()


@pytest.fixture
def real_queue(redis_url):
    q = RealQueue(redis_url)
    yield q
    q.close()


# --- the operator, in-process -----------------------------------------------------


@contextlib.contextmanager
def running_operator(kubeconfig: Path, namespace: str, tick_s: float = 0.2,
                     redis_url: str | None = None):
    """``kopf run --standalone -n <ns> -m registro_operator.handlers`` in a thread, logged in
    with ``kubeconfig`` (the ServiceAccount's); ``redis_url``: its REDIS_URL, for
    ``metrics.redis`` pools."""
    from kopf.testing import KopfRunner

    mp = pytest.MonkeyPatch()
    mp.setenv("KUBECONFIG", str(kubeconfig))
    if redis_url:
        mp.setenv("REGISTRO_REDIS_URL", redis_url)
    mp.setenv("REGISTRO_OPERATOR_TICK_S", str(tick_s))
    metrics_port = free_port()
    mp.setenv("REGISTRO_OPERATOR_METRICS_PORT", str(metrics_port))
    from registro.settings import get_settings

    get_settings.cache_clear()
    try:
        with KopfRunner(["run", "--standalone", "--namespace", namespace,
                         "-m", "registro_operator.handlers"], timeout=60) as runner:
            runner.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            yield runner
    finally:
        mp.undo()
        get_settings.cache_clear()
