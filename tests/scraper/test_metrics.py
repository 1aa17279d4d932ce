"""`registro_browser_sessions_started_total` / `_recycled_total` count every browser
session, also after the worker dropped its scraper (a time limit) and made a new one
(issue 11, defect 4). Real worker code, real Chromium, the real multiprocess metrics
files, read back as Prometheus would; in a child process, so that the metrics module's
process-wide setup stays out of this test process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.browser

CHILD = textwrap.dedent("""
    import json
    from prometheus_client import CollectorRegistry, multiprocess
    from registro.worker import metrics, tasks

    def sample(name):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=metrics.multiproc_dir())
        return registry.get_sample_value(name) or 0

    def counts():
        return [sample("registro_browser_sessions_started_total"),
                sample("registro_browser_sessions_recycled_total")]

    task = tasks.scrape_os        # the ScrapeTask instance of this process
    seen = []
    first = task.scraper()
    first.scrape("101")
    first.scrape("102")           # session_max_scrapes=1: a second browser
    task._count_sessions(first)   # what the task does after each scrape
    seen.append(counts())
    task.close_scraper()          # what the soft time limit does
    second = task.scraper()
    second.scrape("103")          # a third browser, from a new scraper
    task._count_sessions(second)
    seen.append(counts())
    task.close_scraper()
    print(json.dumps(seen))
""")


def test_session_metrics_survive_a_new_scraper(demo, tmp_path, browser_available):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("REGISTRO_") and k != "SELENIUM_URL"}
    env.update(PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom"),
               REGISTRO_LEGACY_URL=demo.url, REGISTRO_SESSION_MAX_SCRAPES="1",
               REGISTRO_ARTIFACTS_DIR=str(tmp_path / "artifacts"))
    (tmp_path / "prom").mkdir()
    result = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    after_first, after_second = json.loads(result.stdout.strip().splitlines()[-1])
    assert after_first == [2, 1]
    assert after_second == [3, 1]
