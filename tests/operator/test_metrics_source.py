"""Reading the queue depth: the real API's /metrics over a real Redis queue, a real
Prometheus scraping it, and malformed or unreachable endpoints."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from devstack.processes import free_port, wait_for_port
from registro import pipeline_state
from registro_operator.metrics_source import MetricsError, MetricsSource, busy_workers
from tests.conftest import require
from tests.operator.conftest import wait_until


def test_endpoint_reads_the_real_queue_depth(queue_api, real_queue):
    source = MetricsSource("endpoint", queue_api.metrics_url, "registro_queue_depth", 2)
    assert source.read() == 0
    real_queue.enqueue(5)
    assert source.read() == 5
    real_queue.drain()
    assert source.read() == 0


def test_endpoint_down_is_a_metrics_error(queue_api):
    source = MetricsSource("endpoint", queue_api.metrics_url, "registro_queue_depth", 1)
    queue_api.stop()
    with pytest.raises(MetricsError, match="ConnectError"):
        source.read()


def test_redis_source_reads_what_the_api_exports(queue_api, real_queue, redis_url):
    """One computation of the depth: the broker read directly equals the API's metric."""
    endpoint = MetricsSource("endpoint", queue_api.metrics_url, "registro_queue_depth", 2)
    direct = MetricsSource.from_spec({"redis": {"queue": "scraping"}}, 2, redis_url=redis_url)
    assert direct.describe() == "redis queue 'scraping'"  # never the URL (a password)
    real_queue.enqueue(7)
    assert direct.read() == endpoint.read() == 7


def test_redis_source_down_is_a_metrics_error_and_busy_unknown():
    url = f"redis://127.0.0.1:{free_port()}/0"
    source = MetricsSource.from_spec({"redis": {}}, 1, redis_url=url)
    with pytest.raises(MetricsError, match="ConnectionError"):
        source.read()
    assert busy_workers(source) is None


def test_busy_workers_from_the_heartbeats(redis_url):
    import redis

    r = redis.Redis.from_url(redis_url)
    pipeline_state.heartbeat(r, "celery@pod-a", 1, 60, ["scraping_1"])
    pipeline_state.heartbeat(r, "celery@pod-b", 1, 60, [])
    pipeline_state.heartbeat(r, "celery@pod-gone", 1, 0.05, ["scraping_2"])
    wait_until(lambda: r.get(pipeline_state.HEARTBEAT_PREFIX + "celery@pod-gone") is None, 5,
               interval=0.05, what="the short heartbeat expired")
    r.close()
    source = MetricsSource.from_spec({"redis": {}}, 2, redis_url=redis_url)
    assert busy_workers(source) == {"pod-a": True, "pod-b": False}
    endpoint = MetricsSource("endpoint", "http://127.0.0.1:1/metrics", "m", 1)
    assert busy_workers(endpoint) is None


class _Fixed(http.server.BaseHTTPRequestHandler):
    status = 200
    body = b""

    def do_GET(self):
        self.send_response(self.server.status)
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fixed_server():
    """A real HTTP server answering whatever a test sets."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Fixed)
    srv.status, srv.body = 200, b""
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.mark.parametrize(("status", "body", "match"), [
    (500, b"oops", "HTTP 500"),
    (200, b"registro_queue_depth{a=\"1\"} 1\nregistro_queue_depth{a=\"2\"} 2\n", "2 series"),
    (200, b"other_metric 3\n", "not found"),
    (200, b"registro_queue_depth NaN\n", "not a finite"),
    (200, b"registro_queue_depth -4\n", "not a finite"),
    (200, b"registro_queue_depth{ 12\n", "malformed|not found"),
])
def test_malformed_endpoint_answers_are_errors(fixed_server, status, body, match):
    fixed_server.status, fixed_server.body = status, body
    url = f"http://127.0.0.1:{fixed_server.server_address[1]}/metrics"
    with pytest.raises(MetricsError, match=match):
        MetricsSource("endpoint", url, "registro_queue_depth", 2).read()


def test_a_hanging_endpoint_is_bounded_by_the_timeout():
    import socket

    with socket.socket() as listener:  # accepts, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/metrics"
        started = time.monotonic()
        with pytest.raises(MetricsError, match="Timeout"):
            MetricsSource("endpoint", url, "registro_queue_depth", 1).read()
        assert time.monotonic() - started < 5


@pytest.fixture
def prometheus_scraping(queue_api):
    binary = shutil.which("prometheus")
    require(binary is not None, "prometheus")
    workdir = Path(tempfile.mkdtemp(prefix="registro-prom-"))
    port = free_port()
    (workdir / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: registro-api\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{queue_api.port}']}}]\n")
    log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [binary, f"--config.file={workdir / 'prometheus.yml'}",
         f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=30, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_prometheus_query_reads_the_scraped_depth(prometheus_scraping, real_queue):
    real_queue.enqueue(4)
    source = MetricsSource("prometheus", prometheus_scraping, "max(registro_queue_depth)", 2)

    def reads_four():
        try:
            return source.read() == 4
        except MetricsError:
            return False

    wait_until(reads_four, 30, interval=0.5, what="prometheus to scrape depth 4")
    with pytest.raises(MetricsError, match="no sample"):
        MetricsSource("prometheus", prometheus_scraping, "absent_metric_xyz", 2).read()
    with pytest.raises(MetricsError, match=r"prometheus query failed|HTTP 400"):
        MetricsSource("prometheus", prometheus_scraping, "sum(", 2).read()
