"""kopf handlers: one timer per ScraperPool scales its worker Deployment from the queue.

Run: ``kopf run --standalone -n <namespace> -m registro_operator.handlers``
(one replica; see operator/README.md).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from typing import Any

import kopf
import kubernetes
from kubernetes.client.exceptions import ApiException
from prometheus_client import Counter, Gauge, start_http_server

from registro.settings import get_settings
from registro_operator.metrics_source import MetricsError, MetricsSource
from registro_operator.policy import Decision, PolicyState, PoolSpec, decide

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


def _now_iso(now: float) -> str:
    return dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(conditions: list[dict], type_: str, status: bool, reason: str, message: str,
                  generation: int | None, now: float) -> list[dict]:
    """Replace one condition, keeping lastTransitionTime when its status did not change."""
    value = "True" if status else "False"
    old = next((c for c in conditions if c.get("type") == type_), None)
    changed = old is None or old.get("status") != value
    new = {
        "type": type_, "status": value, "reason": reason, "message": message[:1024],
        "lastTransitionTime": old.get("lastTransitionTime") if old is not None and not changed
        else _now_iso(now),
        "observedGeneration": generation,
    }
    return [c for c in conditions if c.get("type") != type_] + [new]


def condition_status(conditions: list[dict], type_: str) -> str | None:
    return next((c.get("status") for c in conditions if c.get("type") == type_), None)


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


def reconcile(*, spec: dict, status: dict, generation: int | None, name: str, namespace: str,
              body, patch, memo: kopf.Memo, logger) -> Decision | None:
    now = time.time()
    labels = {"namespace": namespace, "pool": name}
    conditions = list(getattr(memo, "conditions", None) or status.get("conditions") or [])
    pool = PoolSpec.from_spec(spec)
    target = spec["targetRef"]["name"]
    apps = _apps_api(memo)

    def write_status(**fields: Any) -> None:
        memo.conditions = conditions
        patch.status["conditions"] = conditions
        patch.status["observedGeneration"] = generation
        patch.status["lastPollTime"] = _now_iso(now)
        for key, value in fields.items():
            patch.status[key] = value

    # 1. the target Deployment's scale
    try:
        scale = apps.read_namespaced_deployment_scale(target, namespace)
    except ApiException as e:
        SCALE_ERRORS.labels(**labels).inc()
        if e.status == 404:
            if condition_status(conditions, "TargetFound") != "False":
                kopf.warn(body, reason="TargetNotFound",
                          message=f"Deployment {target!r} not found in {namespace}")
            conditions = set_condition(conditions, "TargetFound", False, "NotFound",
                                       f"Deployment {target!r} not found", generation, now)
            write_status(currentReplicas=None)
            return None
        logger.warning("reading the scale of %s failed: %s %s", target, e.status, e.reason)
        conditions = set_condition(conditions, "TargetFound", False, "ReadFailed",
                                   f"reading Deployment {target!r} scale: HTTP {e.status}",
                                   generation, now)
        write_status()
        return None
    if condition_status(conditions, "TargetFound") == "False":
        kopf.info(body, reason="TargetFound", message=f"Deployment {target!r} is back")
    conditions = set_condition(conditions, "TargetFound", True, "Found",
                               f"Deployment {target!r}", generation, now)
    current = int(scale.spec.replicas or 0) if scale.spec is not None else 0

    # 2. the queue depth
    depth: float | None
    try:
        source = MetricsSource.from_spec(spec.get("metrics") or {},
                                         float((spec.get("metrics") or {}).get("timeoutSeconds", 5)))
        depth = source.read()
    except (MetricsError, KeyError, TypeError, ValueError) as e:
        depth = None
        READ_ERRORS.labels(**labels).inc()
        message = f"queue depth unavailable: {e}; holding {current} replicas"
        if condition_status(conditions, "MetricsAvailable") != "False":
            kopf.warn(body, reason="MetricsUnavailable", message=message)
        conditions = set_condition(conditions, "MetricsAvailable", False, "ReadFailed", message,
                                   generation, now)
    else:
        QUEUE.labels(**labels).set(depth)
        conditions = set_condition(conditions, "MetricsAvailable", True, "ReadOk",
                                   f"read {source.describe()}", generation, now)

    # 3. the decision, from the state this operator (or its predecessor) left
    state = getattr(memo, "policy_state", None) or PolicyState.from_status(status.get("policy"))
    decision = decide(depth, current, pool, state, now)
    memo.policy_state = decision.state
    DECISIONS.labels(decision=decision.reason, **labels).inc()
    DESIRED.labels(**labels).set(decision.desired)

    fields: dict[str, Any] = {
        "desiredReplicas": decision.desired,
        "currentReplicas": current,
        "policy": decision.state.to_status(),
    }
    if depth is not None:
        fields["queueDepth"] = int(depth)

    # 4. act
    if decision.scales(current):
        try:
            apps.patch_namespaced_deployment_scale(
                target, namespace, {"spec": {"replicas": decision.desired}})
        except ApiException as e:
            SCALE_ERRORS.labels(**labels).inc()
            kopf.warn(body, reason="ScaleFailed",
                      message=f"patching {target} to {decision.desired}: HTTP {e.status}")
            conditions = set_condition(conditions, "Scaling", False, "ScaleFailed",
                                       f"HTTP {e.status} {e.reason}", generation, now)
            write_status(**fields)
            return decision
        message = f"{current} → {decision.desired}: {decision.message}"
        kopf.info(body, reason=decision.reason, message=message)
        logger.info("scaled %s: %s", target, message)
        fields.update(currentReplicas=decision.desired, lastScaleTime=_now_iso(now),
                      lastScaleReason=message)
        conditions = set_condition(conditions, "Scaling", True, decision.reason, message,
                                   generation, now)
        conditions = set_condition(conditions, "Stable", False, decision.reason, message,
                                   generation, now)
    else:
        scaling = decision.reason == "Stabilizing"
        conditions = set_condition(conditions, "Scaling", scaling, decision.reason,
                                   decision.message, generation, now)
        # without a reading, whether the replicas fit the queue is unknown: not Stable
        stable = not scaling and decision.raw is not None
        conditions = set_condition(conditions, "Stable", stable, decision.reason,
                                   decision.message, generation, now)
    CURRENT.labels(**labels).set(fields["currentReplicas"])
    write_status(**fields)
    return decision
