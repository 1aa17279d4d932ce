"""kopf handlers: one timer per ScraperPool scales its worker Deployment from the queue.

Run: ``kopf run --standalone -n <namespace> -m registro_operator.handlers``
(one replica; see operator/README.md).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import kopf
import kubernetes
from kubernetes.client.exceptions import ApiException
from prometheus_client import Counter, Gauge, start_http_server

from registro.settings import get_settings
from registro_operator.metrics_source import MetricsError, MetricsSource, busy_workers
from registro_operator.policy import Decision, PolicyState
from registro_operator.reconcile import (
    DELETION_COST,
    Observation,
    Plan,
    WorkerPod,
    plan,
    scale_failed,
)

GROUP, VERSION, PLURAL = "registro.dev", "v1alpha1", "scraperpools"

DECISIONS = Counter(
    "registro_operator_decisions_total", "Scaling decisions by outcome.",
    ["namespace", "pool", "decision"],
)
DESIRED = Gauge("registro_operator_desired_replicas", "Replicas the policy wants.",
                ["namespace", "pool"])
CURRENT = Gauge("registro_operator_current_replicas", "Replicas of the target's scale.",
                ["namespace", "pool"])
QUEUE = Gauge("registro_operator_queue_depth", "Queue depth at the last successful read.",
              ["namespace", "pool"])
READ_ERRORS = Counter("registro_operator_metric_read_errors_total",
                      "Failed or malformed queue-depth reads.", ["namespace", "pool"])
SCALE_ERRORS = Counter("registro_operator_scale_errors_total",
                       "Failed reads or patches of the target's scale.", ["namespace", "pool"])


# --- lifecycle -----------------------------------------------------------------


class _QuietTicks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timer 'autoscale' succeeded")


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger, **_: Any) -> None:
    # Bounded API calls: a hung API server never freezes the operator.
    settings.networking.request_timeout = 30
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.posting.level = logging.INFO
    # Events come from the plan only (kopf.event); kopf would also post each log line
    # of a handler as a "Logging" event, a second copy of every scale event.
    settings.posting.loggers = False
    # On shutdown, let a poll in flight finish (its calls are bounded) instead of orphaning it.
    settings.background.instant_exit_timeout = 10
    # The timer ticks often and mostly skips: do not log every successful tick.
    objects_log = logging.getLogger("kopf.objects")
    if not any(isinstance(f, _QuietTicks) for f in objects_log.filters):
        objects_log.addFilter(_QuietTicks())
    # Only ScraperPools are served: no cluster-wide CRD/namespace scanning (and no RBAC for it).
    settings.scanning.disabled = True
    port = get_settings().operator_metrics_port
    memo.metrics_server = None
    if port:
        try:
            memo.metrics_server = start_http_server(port)
            logger.info("operator metrics on :%d/metrics", port)
        except OSError as e:  # another operator in this process/pod already serves them
            logger.warning("operator metrics not served on :%d: %s", port, e)


@kopf.on.cleanup()
def shutdown(memo: kopf.Memo, logger, **_: Any) -> None:
    served = getattr(memo, "metrics_server", None)
    if served and isinstance(served, tuple):
        server, thread = served
        server.shutdown()
        server.server_close()
        thread.join(5)
    logger.info("operator stopped")


def client_configuration() -> kubernetes.client.Configuration:
    """In-cluster ServiceAccount first, else the kubeconfig named by ``$KUBECONFIG`` (read
    now, not at import) or ``~/.kube/config``."""
    config = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=config)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"),
                                           client_configuration=config)
    return config


@kopf.on.login()
def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    """kopf and the scale client share one set of credentials."""
    config = client_configuration()
    header = (config.get_api_key_with_prefix("BearerToken")
              or config.get_api_key_with_prefix("authorization") or "")
    scheme, _sep, token = header.partition(" ") if " " in header else ("", "", header)
    return kopf.ConnectionInfo(
        server=config.host, ca_path=config.ssl_ca_cert, insecure=not config.verify_ssl,
        scheme=scheme or None, token=token or None,
        certificate_path=config.cert_file, private_key_path=config.key_file,
    )


def _apps_api(memo: kopf.Memo) -> kubernetes.client.AppsV1Api:
    api = getattr(memo, "apps_api", None)
    if api is None:
        api = kubernetes.client.AppsV1Api(kubernetes.client.ApiClient(client_configuration()))
        memo.apps_api = api
    return api


def _core_api(memo: kopf.Memo) -> kubernetes.client.CoreV1Api:
    api = getattr(memo, "core_api", None)
    if api is None:
        api = kubernetes.client.CoreV1Api(_apps_api(memo).api_client)
        memo.core_api = api
    return api


# --- the timer -----------------------------------------------------------------


@kopf.timer(GROUP, VERSION, PLURAL, id="autoscale", interval=get_settings().operator_tick_s)
def autoscale(spec, status, meta, name, namespace, body, patch, memo: kopf.Memo, logger,
              **_: Any) -> None:
    interval = float(spec.get("pollIntervalSeconds", 10))
    tick = time.monotonic()
    if tick - getattr(memo, "last_poll", float("-inf")) < interval - 0.05:
        return
    memo.last_poll = tick
    reconcile(spec=dict(spec), status=dict(status), generation=meta.get("generation"),
              name=name, namespace=namespace, body=body, patch=patch, memo=memo, logger=logger)


def observe(spec: dict, generation: int | None, namespace: str, memo: kopf.Memo,
            logger) -> Observation:
    """Every read of one poll: the target's scale, the queue depth, the worker pods."""
    now = time.time()
    target = spec["targetRef"]["name"]
    apps = _apps_api(memo)
    try:
        scale = apps.read_namespaced_deployment_scale(target, namespace)
    except ApiException as e:
        if e.status == 404:
            return Observation(now=now, generation=generation, target=target, replicas=None,
                               target_missing=True)
        logger.warning("reading the scale of %s failed: %s %s", target, e.status, e.reason)
        return Observation(now=now, generation=generation, target=target, replicas=None,
                           target_error=f"HTTP {e.status}")
    replicas = int(scale.spec.replicas or 0) if scale.spec is not None else 0
    selector = scale.status.selector if scale.status is not None else None
    metrics = spec.get("metrics") or {}
    depth: float | None = None
    error: str | None = None
    described = ""
    source: MetricsSource | None = None
    try:
        source = MetricsSource.from_spec(metrics, float(metrics.get("timeoutSeconds", 5)),
                                         redis_url=get_settings().redis_url)
        described = source.describe()
        depth = source.read()
    except (MetricsError, KeyError, TypeError, ValueError) as e:
        error = str(e)
    pods = None
    if source is not None and depth is not None and selector:
        pods = _worker_pods(source, selector, namespace, memo, logger)
    return Observation(now=now, generation=generation, target=target, replicas=replicas,
                       depth=depth, depth_error=error, source=described, pods=pods)


def _worker_pods(source: MetricsSource, selector: str, namespace: str, memo: kopf.Memo,
                 logger) -> tuple[WorkerPod, ...] | None:
    """The target's pods that are not terminating, each busy or idle by its heartbeat.
    None (unknown) unless the depth comes from Redis and both reads succeed."""
    busy = busy_workers(source)
    if busy is None:
        return None
    try:
        listed = _core_api(memo).list_namespaced_pod(namespace, label_selector=selector)
    except ApiException as e:
        logger.warning("listing the worker pods failed: %s %s", e.status, e.reason)
        return None
    pods = []
    for p in listed.items:
        meta = p.metadata
        if meta is None or meta.name is None or meta.deletion_timestamp is not None:
            continue
        pods.append(WorkerPod(meta.name, busy.get(meta.name),
                              (meta.annotations or {}).get(DELETION_COST)))
    return tuple(pods)


def apply(p: Plan, obs: Observation, namespace: str, memo: kopf.Memo, logger) -> Plan:
    """Write the pods' deletion costs, then the scale; a failure turns the plan into a
    ``ScaleFailed`` one (no scale-down with a busy pod left marked as cheap)."""
    if p.scale_to is None:
        return p
    for pod, cost in sorted(p.pod_costs.items()):
        try:
            _core_api(memo).patch_namespaced_pod(
                pod, namespace, {"metadata": {"annotations": {DELETION_COST: cost}}})
        except ApiException as e:
            return scale_failed(p, obs, f"annotating pod {pod}: HTTP {e.status}")
    try:
        _apps_api(memo).patch_namespaced_deployment_scale(
            obs.target, namespace, {"spec": {"replicas": p.scale_to}})
    except ApiException as e:
        return scale_failed(p, obs, f"HTTP {e.status} {e.reason}")
    logger.info("scaled %s: %s", obs.target, p.status.get("lastScaleReason"))
    return p


def reconcile(*, spec: dict, status: dict, generation: int | None, name: str, namespace: str,
              body, patch, memo: kopf.Memo, logger) -> Decision | None:
    """Observe, plan (pure: ``reconcile.plan``), act, report."""
    labels = {"namespace": namespace, "pool": name}
    # what this operator wrote last (kopf's view of the status may lag a poll behind)
    previous = getattr(memo, "last_status", None) or status
    conditions = list(previous.get("conditions") or [])
    state = getattr(memo, "policy_state", None) or PolicyState.from_status(status.get("policy"))

    obs = observe(spec, generation, namespace, memo, logger)
    if obs.replicas is None:
        SCALE_ERRORS.labels(**labels).inc()
    if obs.replicas is not None and obs.depth is None:
        READ_ERRORS.labels(**labels).inc()
    result = apply(plan(obs, spec, previous, conditions, state), obs, namespace, memo, logger)

    for event in result.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
    decision = result.decision
    if decision is not None:
        memo.policy_state = decision.state
        DECISIONS.labels(decision=decision.reason, **labels).inc()
        DESIRED.labels(**labels).set(decision.desired)
        if obs.depth is not None:
            QUEUE.labels(**labels).set(obs.depth)
        if any(e.reason == "ScaleFailed" for e in result.events):
            SCALE_ERRORS.labels(**labels).inc()
    if result.status.get("currentReplicas") is not None:
        CURRENT.labels(**labels).set(result.status["currentReplicas"])
    memo.last_status = {**previous, **result.status}
    for key, value in result.status.items():
        patch.status[key] = value
    return decision
