"""The Grafana dashboard and the alert rules against a real Prometheus scraping the
real components (API, Celery worker, kopf operator) after a little real traffic.

Every panel query and every alert expression must parse and return series; an
alert that is a condition is also evaluated without its threshold, part by part.
RegistroOpenRecordsStale (issue 12) is also seen quiet, then firing on real samples (open
records stored as read hours ago), then resolved once they are read again.
RegistroFieldDrift (issue 19) is seen quiet, pending, firing and resolved on the real
reads of a real worker while the demo renames, then restores, the label of one field.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from devstack.processes import free_port, wait_for_port
from devstack.stack import open_numeros, read_times, seed_records, wait_status
from devstack.waits import wait_until
from tests.conftest import require
from tests.delivery.conftest import CHART, documents, helm_template

pytestmark = [pytest.mark.redis, pytest.mark.browser, pytest.mark.k8s]

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
DASHBOARD = CHART / "dashboards" / "registro-queue.json"
BIN = Path(sys.executable).parent
POST = "/api/desenvolvimento/buscar-os-async/{}"
STATUS = "/api/desenvolvimento/scraping-status/{}"


STALE_ALERT = "RegistroOpenRecordsStale"
# The live test's threshold and hold time (values: 1 day and 30 min by default).
STALE_OVERRIDES = ("--set", "monitoring.prometheusRule.openRecordMaxAgeSeconds=3600",
                   "--set", "monitoring.prometheusRule.openRecordMaxAgeFor=2s")


def rendered_rules(helm, *overrides: str) -> dict:
    docs = documents(helm_template(helm, "--api-versions", "monitoring.coreos.com/v1",
                                   *overrides))
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    return rule["spec"]


def dashboard_queries() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]


def test_promtool_check_rules(helm, tmp_path):
    require(Path(PROMTOOL).exists(), PROMTOOL + " (Debian package prometheus)")
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(rendered_rules(helm)))
    proc = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 8 rules found" in proc.stdout, proc.stdout


def test_dashboard_is_importable_json():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"] and dash["panels"]
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    exprs = " ".join(e for _title, e in dashboard_queries())
    for metric in ("registro_refresh_enqueued_total", "registro_refresh_skipped_total",
                   "registro_refresh_completed_total", "registro_open_records",
                   "registro_open_records_oldest_age_seconds",
                   "registro_refresh_scheduler_leader", "registro_field_reads_total",
                   "registro_field_filled_total", "registro_api_stale_answers_total",
                   "registro_record_changes_total"):
        assert metric in exprs, f"no panel shows {metric}"
    for topic in ("queue depth", "desired vs current", "scaling events", "outcome",
                  "p50 / p95", "p99 by route", "fallback", "rate-limit", "legacy-system errors",
                  "background refresh", "skipped", "open records", "oldest open record",
                  "scheduler leaders", "stale answers", "record changes",
                  "fill rate per field"):
        assert topic in titles, f"no panel about {topic!r}"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


# --- the live test ------------------------------------------------------------------


EVALUATION_INTERVAL_S = 1


class Prometheus:
    def __init__(self, workdir: Path, targets: dict[str, int], rules: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s",
                       "evaluation_interval": f"{EVALUATION_INTERVAL_S}s",
                       "scrape_timeout": "900ms"},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                for job, port in targets.items()],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([
            PROMETHEUS, f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h", "--log.level=warn",
        ], stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, timeout=30, proc=self.proc)
        wait_until(lambda: httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200,
                   30, what="prometheus ready")

    def query(self, expr: str, at: float | None = None) -> dict:
        """``expr`` now, or at ``at`` (Unix seconds)."""
        params = {"query": expr} | ({"time": f"{at:.3f}"} if at is not None else {})
        r = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=10)
        return r.json()

    def names(self) -> set[str]:
        r = httpx.get(f"{self.url}/api/v1/label/__name__/values", timeout=10).json()
        return set(r["data"])

    def rule_errors(self) -> dict[str, str]:
        """Rules whose last evaluation failed or that never ran: name -> error."""
        groups = httpx.get(f"{self.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        return {r["name"]: r.get("lastError") or r["health"]
                for g in groups for r in g["rules"] if r["health"] != "ok"}

    def targets_up(self) -> dict[str, float]:
        res = self.query("up")["data"]["result"]
        return {s["metric"]["job"]: float(s["value"][1]) for s in res}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.log.close()


def _wait(predicate, timeout: float, what: str):
    return wait_until(predicate, timeout, interval=0.3, what=what)


def _stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _deployment(name: str) -> dict:
    labels = {"app.kubernetes.io/name": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "worker", "image": "registro-worker:0.1.0"}]}}}}


def _pool(name: str, target: str, metrics_url: str) -> dict:
    return {"apiVersion": "registro.dev/v1alpha1", "kind": "ScraperPool",
            "metadata": {"name": name},
            "spec": {"targetRef": {"name": target}, "minReplicas": 1, "maxReplicas": 3,
                     "tasksPerWorker": 1, "pollIntervalSeconds": 1,
                     "scaleDownStabilizationSeconds": 600,
                     "metrics": {"endpoint": {"url": metrics_url}, "timeoutSeconds": 2}}}


def strip_threshold(expr: str) -> list[str]:
    """The parts of a condition, each without its comparison to a constant."""
    parts = re.split(r"\s+(?:and|or|unless)(?:\s+on\s*\([^)]*\))?\s+", " ".join(expr.split()))
    cmp = re.compile(r"\s*(?:>=|<=|==|!=|>|<)\s*[-+]?[0-9.]+(?:e[-+]?\d+)?\s*$")
    return [cmp.sub("", p) for p in parts]


def test_dashboard_and_alerts_against_live_components(helm, cluster, namespace, tmp_path,
                                                      browser_available):
    require(Path(PROMETHEUS).exists(), PROMETHEUS + " (Debian package prometheus)")
    require(shutil.which("redis-server") is not None, "redis-server")
    from tests.pipeline.harness import Api, Stack

    # The operator's cluster side: CRD, the chart's RBAC, two target Deployments.
    cluster.kubectl("apply", "--server-side", "-f", str(CHART / "crds" / "scraperpools.yaml"))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                    "crd/scraperpools.registro.dev")
    chart_docs = documents(helm_template(helm, namespace=namespace))
    rbac = [d for d in chart_docs if d["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    apply = "\n---\n".join(yaml.safe_dump(d) for d in
                           [*rbac, _deployment("workers"), _deployment("broken-workers")])
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=apply)
    sa = next(d["metadata"]["name"] for d in rbac if d["kind"] == "ServiceAccount")
    kubeconfig = cluster.service_account_kubeconfig(namespace, sa)

    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(rendered_rules(helm, *STALE_OVERRIDES)))

    stack = Stack.new(secrets.token_urlsafe(24), workdir=tmp_path / "stack")
    workdir, demo, db_url = stack.workdir, stack.demo, stack.db_url
    procs: list = []
    prom = api = op_log = None
    try:
        stack.start_redis()
        api = Api(stack, REGISTRO_FALLBACK_MAX_BROWSERS=1)
        worker_metrics, operator_metrics = free_port(), free_port()

        op_log = open(workdir / "operator.log", "wb")  # noqa: SIM115
        operator = subprocess.Popen(
            [str(BIN / "kopf"), "run", "--standalone", "-m", "registro_operator.handlers",
             f"--namespace={namespace}"],
            env={**stack.env(), "KUBECONFIG": str(kubeconfig),
                 "REGISTRO_OPERATOR_METRICS_PORT": str(operator_metrics)},
            stdout=op_log, stderr=subprocess.STDOUT)
        procs.append(operator)
        wait_for_port(operator_metrics, timeout=60, proc=operator)
        pools = [_pool("queue", "workers", f"{api.url}/metrics"),
                 _pool("unreachable", "broken-workers",
                       f"http://127.0.0.1:{free_port()}/metrics")]
        cluster.kubectl("apply", "-n", namespace, "-f", "-",
                        input="\n---\n".join(yaml.safe_dump(p) for p in pools))

        prom = Prometheus(workdir, {"registro-api": api.port,
                                    "registro-worker": worker_metrics,
                                    "registro-operator": operator_metrics}, rules)

        client = api.client()
        # 1. No worker online: the API serves a lookup through the fallback.
        r = client.post(POST.format("2105"))
        assert r.status_code == 200 and r.json().get("via") == "sincrono", r.text

        # 2. A worker (metrics on), no retries so a transient failure ends at once.
        worker = stack.start_worker("monitoring", REGISTRO_WORKER_METRICS_PORT=worker_metrics,
                                    REGISTRO_TASK_MAX_RETRIES=0,
                                    REGISTRO_LEGACY_RATE_PER_MINUTE=120,
                                    REGISTRO_LEGACY_RATE_BURST=1,
                                    # the refresh scheduler: a pass every second
                                    REGISTRO_REFRESH_INTERVAL_S=1,
                                    REGISTRO_REFRESH_LEASE_TTL_S=3)
        # 3. A burst of lookups (queue > 1 per worker: the pool scales up), one unknown
        #    OS (permanent failure) and one while the legacy system answers 500s.
        numbers = ["3101", "3102", "3103", "3104", "97"]
        ids = [client.post(POST.format(n)).json()["task_id"] for n in numbers]

        def finished(task_id):
            return client.get(STATUS.format(task_id)).json()["status"] in ("SUCCESS", "FAILURE")

        _wait(lambda: all(finished(t) for t in ids), 240, "the burst of tasks")
        demo.faults(error_rate=1.0)
        failing = client.post(POST.format("3105")).json()["task_id"]
        _wait(lambda: finished(failing), 120, "the task against the failing legacy system")
        demo.faults(error_rate=0.0)
        client.get("/api/desenvolvimento/queue-status")

        replicas = cluster.kubectl("get", "deployment", "workers", "-n", namespace,
                                   "-o", "jsonpath={.spec.replicas}").stdout
        assert int(replicas) > 1, "the operator never scaled the burst up"
        _wait(lambda: all(v == 1.0 for v in prom.targets_up().values())
              and len(prom.targets_up()) == 3, 30, "all three targets up")
        # 4. RegistroOpenRecordsStale: quiet while every open record is fresh...
        def stale_alert(state: str) -> bool:
            res = prom.query(f'ALERTS{{alertname="{STALE_ALERT}",alertstate="{state}"}}')
            return bool(res["data"]["result"])

        _wait(lambda: prom.query("count_over_time(registro_open_records_oldest_age_seconds"
                                 "[30s]) >= 5")["data"]["result"], 60,
              "five samples of the oldest open record's age")
        assert not stale_alert("pending") and not stale_alert("firing")
        # ...firing once open records were read hours ago (two are due for a refresh:
        # default REFRESH_AFTER_S is 6 h; one is not, so it stays old)...
        now = time.time()
        due, old = open_numeros(2, start=48000), open_numeros(1, start=48500)
        # One of them changed in the legacy system since (the demo's admin API, issue 12's
        # other half): its refresh counts registro_record_changes_total.
        changed = demo.admin.post(f"/_demo/os/{due[0]}",
                                  json={"diagnostico": "Rotor trocado (monitoring test)."})
        assert changed.status_code == 200, changed.text
        seed_records(db_url, {due[0]: now - 8 * 3600, due[1]: now - 8 * 3600 - 1,
                              old[0]: now - 3 * 3600})
        _wait(lambda: stale_alert("firing"), 60, f"{STALE_ALERT} firing")
        _wait(lambda: all(t is not None and t > now
                          for t in read_times(db_url, due).values()), 120,
              "the two due records refreshed")
        assert stale_alert("firing")  # the one read 3 h ago is still open and old
        # ...and resolved once that one is read again.
        seed_records(db_url, {old[0]: time.time()})
        _wait(lambda: not stale_alert("firing") and not stale_alert("pending"), 60,
              f"{STALE_ALERT} resolved")
        time.sleep(5)  # a few more scrapes after the last event

        names = prom.names()
        failures = []

        def check(kind: str, title: str, expr: str) -> None:
            res = prom.query(expr)
            if res.get("status") != "success":
                failures.append(f"{kind} {title!r}: does not parse: {res.get('error')}")
                return
            if not res["data"]["result"]:
                used = set(re.findall(r"\b(registro_[a-z0-9_]+)", expr))
                missing = sorted(n for n in used if n not in names
                                 and re.sub(r"_(bucket|sum|count)$", "", n) not in names)
                failures.append(f"{kind} {title!r}: no series for {expr!r}"
                                + (f" (metrics never exported: {missing})" if missing else ""))

        for title, expr in dashboard_queries():  # every panel has series
            check("panel", title, expr.replace("$__rate_interval", "1m"))
        for group in rendered_rules(helm)["groups"]:
            for rule in group["rules"]:
                res = prom.query(rule["expr"])  # the full condition must parse
                if res.get("status") != "success":
                    failures.append(f"alert {rule['alert']}: {res.get('error')}")
                for part in strip_threshold(rule["expr"]):
                    check("alert", rule["alert"], part)
        # every rule evaluated without error (a failed evaluation is only a warning in
        # Prometheus' log, which the former text search of the log did not see)
        assert not prom.rule_errors(), prom.rule_errors()
        assert not failures, "\n".join(failures)
        assert worker.proc.poll() is None
    finally:
        if prom:
            prom.stop()
        for p in procs:
            _stop(p)
        if op_log:
            op_log.close()
        if api:
            api.stop()
        stack.stop_workers()
        stack.stop_redis()
        demo.stop()


# --- RegistroFieldDrift on real reads ------------------------------------------------

DRIFT_ALERT = "RegistroFieldDrift"
DRIFT_FIELD = "cliente.telefone"
# The live test's windows (values: 1h / 7d / 20 reads / 15m by default): the same rule,
# scaled down so that a few minutes of reads exercise it.
DRIFT_MIN_READS = 4
DRIFT_OVERRIDES = ("--set", "monitoring.prometheusRule.fieldDrift.recentWindow=15s",
                   "--set", "monitoring.prometheusRule.fieldDrift.baselineWindow=5m",
                   "--set", f"monitoring.prometheusRule.fieldDrift.minReads={DRIFT_MIN_READS}",
                   "--set", "monitoring.prometheusRule.fieldDrift.for=5s")
RECENT_READS = ("sum by (field) (increase(registro_field_reads_total"
                f'{{field="{DRIFT_FIELD}"}}[15s]))')


class Reader(threading.Thread):
    """Lookups with ``forcar`` one after the other, each waited for: a steady stream of
    real reads by the worker, as users would cause."""

    def __init__(self, client: httpx.Client, numeros: list[str]):
        super().__init__(daemon=True)
        self.client, self.numeros = client, numeros
        self.stop_flag = threading.Event()
        self.outcomes: list[str] = []
        self.fallbacks = 0
        self.error: BaseException | None = None

    def run(self):
        try:
            for numero in itertools.cycle(self.numeros):
                if self.stop_flag.is_set():
                    return
                body = self.client.post(POST.format(numero), params={"forcar": "true"}).json()
                if body.get("via") == "sincrono":  # the API's fallback read it (and counts
                    # it): a heartbeat can lapse on a loaded machine
                    assert body["status"] == "success", body
                    self.fallbacks += 1
                    self.outcomes.append("SUCCESS")
                    continue
                assert body["status"] == "queued", body
                done = wait_status(self.client, body["task_id"], {"SUCCESS", "FAILURE"})
                self.outcomes.append(done["status"])
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def _same_filled_fields(data, candidates) -> list[str]:
    """The largest set of demo OS with the telephone and exactly the same fields filled.
    Reads cycling through OS whose fill differs can drop another field below half its
    baseline in a 4-read window (three OS in a row without an inscricao_estadual did,
    under load), so only the renamed field may change what the reads fill."""
    groups: dict[frozenset[str], list[str]] = {}
    for numero in map(str, candidates):
        if not data.exists(numero) or not data.expected_record(numero).cliente.telefone:
            continue
        record = data.expected_record(numero)
        filled = frozenset(f"{part}.{name}" for part in ("cliente", "equipamento", "os")
                           for name, value in getattr(record, part).model_dump().items()
                           if value not in (None, ""))
        groups.setdefault(filled, []).append(numero)
    return max(groups.values(), key=len)


def test_field_drift_alert_on_a_renamed_label(helm, tmp_path, browser_available):
    require(Path(PROMETHEUS).exists(), PROMETHEUS + " (Debian package prometheus)")
    require(shutil.which("redis-server") is not None, "redis-server")
    from registro.legacy_demo import data
    from registro.worker.profile import default_profile_path
    from tests.pipeline.harness import Api, Stack

    rules = tmp_path / "rules.yaml"
    rendered = rendered_rules(helm, *DRIFT_OVERRIDES)
    rules.write_text(yaml.safe_dump(rendered))
    drift_rule = next(r for g in rendered["groups"] for r in g["rules"]
                      if r.get("alert") == DRIFT_ALERT)
    # The demo profile with the telephone optional: a renamed label leaves it empty and
    # the read is saved with a hole (the demo profile as shipped fails the read instead:
    # profile_mismatch, which RegistroLegacySystemFailing watches).
    profile = yaml.safe_load(default_profile_path().read_text(encoding="utf-8"))
    profile["extract"][0]["fields"][DRIFT_FIELD]["optional"] = True
    profile_path = tmp_path / "profile.yaml"
    profile_path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    numeros = _same_filled_fields(data, range(5001, 5200))

    stack = Stack.new(secrets.token_urlsafe(24), workdir=tmp_path / "stack")
    workdir, demo = stack.workdir, stack.demo
    # No browser recycling (every 50 scrapes by default): a loaded machine's cold browser
    # start and login pause the reads for a good part of the 15 s window.
    settings = {"REGISTRO_SITE_PROFILE": str(profile_path), "REGISTRO_REFRESH_ENABLED": "false",
                "REGISTRO_SESSION_MAX_SCRAPES": "100000"}
    prom = api = reader = None
    try:
        stack.start_redis()
        api = Api(stack, REGISTRO_FALLBACK_MAX_BROWSERS=1, **settings)
        worker_metrics = free_port()
        prom = Prometheus(workdir, {"registro-api": api.port,
                                    "registro-worker": worker_metrics}, rules)
        client = api.client()
        # The API's fallback saves reads too, and counts them (no worker online yet).
        r = client.post(POST.format(numeros[0]))
        assert r.status_code == 200 and r.json().get("via") == "sincrono", r.text
        _wait(lambda: prom.query(f'registro_field_filled_total{{job="registro-api",'
                                 f'field="{DRIFT_FIELD}"}} == 1')["data"]["result"], 30,
              "the fallback's read counted by the API")
        stack.start_worker("drift", REGISTRO_WORKER_METRICS_PORT=worker_metrics, **settings)
        reader = Reader(client, numeros)
        reader.start()

        def selector(state: str) -> str:
            return f'ALERTS{{alertname="{DRIFT_ALERT}",alertstate="{state}",field="{DRIFT_FIELD}"}}'

        def alert(state: str) -> bool:
            return bool(prom.query(selector(state))["data"]["result"])

        def samples(state: str) -> list[float]:
            """When Prometheus evaluated the alert in ``state`` (its own samples: a poll
            on a loaded machine sees a change late)."""
            res = prom.query(f"{selector(state)}[10m]")["data"]["result"]
            return [float(t) for t, _ in res[0]["values"]]

        def reads_each_second(window: str) -> bool:
            # the recent window held at least minReads reads at every second of `window`
            q = f"min_over_time(({RECENT_READS})[{window}:1s]) >= {DRIFT_MIN_READS}"
            return bool(prom.query(q)["data"]["result"])

        # 1. Quiet: the field is read often enough for the rule to judge it, and filled,
        # for twice the time a drop takes to fire (~15 s): in production the baseline
        # (7 d) dwarfs the recent window (1 h); here it must still outweigh the empty
        # reads, or its own fill rate falls below minBaselineFillRate first (with the
        # warm-up's filled reads, the baseline stays above 0.7 until the alert fires).
        _wait(lambda: reads_each_second("30s"), 300, "30 s of enough reads of the field")
        assert reader.error is None, reader.error
        history = prom.query(f'count_over_time(ALERTS{{alertname="{DRIFT_ALERT}"}}[1h])')
        assert not history["data"]["result"], history
        # 2. The site renames the label: the field comes back empty, reads still succeed.
        renamed = time.monotonic()
        demo.admin.post("/_demo/labels", json={"Telefone": "Fone"}).raise_for_status()
        _wait(lambda: alert("pending"), 120, f"{DRIFT_ALERT} pending")
        pending_at = time.monotonic()
        _wait(lambda: alert("firing"), 60, f"{DRIFT_ALERT} firing")
        firing_at = time.monotonic()
        # 3. The label is back: the fill rate recovers and the alert resolves.
        demo.admin.post("/_demo/labels", json={"Telefone": None}).raise_for_status()
        restored = time.monotonic()
        _wait(lambda: not alert("firing") and not alert("pending"), 120,
              f"{DRIFT_ALERT} resolved")
        resolved_at = time.monotonic()
        # Resolved because the fill rate recovered, judged at the evaluation that resolved
        # it (the one after the last firing sample; a later look would judge later reads):
        # the recent fill was back above dropRatio of the baseline, with reads in the
        # window, and the baseline guard held (no diluted baseline silenced it).
        assert reader.error is None, reader.error
        resolving = samples("firing")[-1] + EVALUATION_INTERVAL_S
        ratio, volume, baseline = re.split(r"\s+and on \(field\)\s+",
                                           " ".join(drift_rule["expr"].split()))
        fill, drop_ratio = ratio.rsplit(" < ", 1)

        def at_resolution(expr: str) -> float | None:
            res = prom.query(expr, at=resolving)["data"]["result"]
            return next((float(r["value"][1]) for r in res
                         if r["metric"]["field"] == DRIFT_FIELD), None)

        recovered, reads = at_resolution(fill), at_resolution(volume.split(" >= ")[0])
        assert recovered is not None and recovered >= float(drop_ratio), (fill, recovered)
        assert reads is not None and reads > 0, (volume, reads)
        assert at_resolution(baseline) is not None, baseline
        assert samples("firing")[0] - samples("pending")[0] >= 5  # for: 5s
        print(f"\n{DRIFT_ALERT}: pending {pending_at - renamed:.1f} s after the rename, "
              f"firing {firing_at - renamed:.1f} s, resolved {resolved_at - restored:.1f} s "
              f"after the restore; {len(reader.outcomes)} reads ({reader.fallbacks} by the "
              f"API's fallback); at the resolving evaluation the fill was {recovered:.2f} of the baseline over {reads:.1f} reads")
        # Only the renamed field ever alerted, and every read was saved.
        fields = prom.query(f'count by (field) (count_over_time('
                            f'ALERTS{{alertname="{DRIFT_ALERT}"}}[1h]))')["data"]["result"]
        assert [f["metric"]["field"] for f in fields] == [DRIFT_FIELD], fields
        assert set(reader.outcomes) == {"SUCCESS"}, reader.outcomes
        empty = prom.query(f'sum(registro_field_reads_total{{field="{DRIFT_FIELD}"}})'
                           f' - sum(registro_field_filled_total{{field="{DRIFT_FIELD}"}})')
        assert float(empty["data"]["result"][0]["value"][1]) > 0, empty
    finally:
        if reader is not None:
            reader.stop_flag.set()
            reader.join(180)
        if prom:
            prom.stop()
        if api:
            api.stop()
        stack.stop_workers()
        stack.stop_redis()
        demo.stop()
