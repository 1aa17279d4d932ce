"""One poll of a ScraperPool as a pure function: what was observed in, what to do out.

``plan`` takes an ``Observation`` (the target's scale, the queue depth or why it could
not be read, the worker pods and whether each is busy) plus the pool's spec and the
status the last poll left, and returns a ``Plan``: the replicas to set, the
pod-deletion-cost annotations to write first, the Events to post and the whole status
(conditions included). No clock, no Kubernetes, no Redis: ``handlers.py`` does the I/O
around it, and ``tests/operator/test_reconcile.py`` tests it on tables.

Events are posted on transitions only (a condition changing status or reason, a scale),
never once per poll.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from registro_operator.policy import Decision, PolicyState, PoolSpec, decide

# controller.kubernetes.io/pod-deletion-cost: the ReplicaSet controller removes pods with
# the lower cost first (after unscheduled, pending and not-ready ones).
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
BUSY_COST = "100"
IDLE_COST = "-100"


@dataclass(frozen=True)
class WorkerPod:
    name: str
    busy: bool | None  # from the worker's heartbeat; None: no live heartbeat (unknown)
    cost: str | None = None  # its pod-deletion-cost annotation now


@dataclass(frozen=True)
class Observation:
    now: float
    generation: int | None
    target: str
    replicas: int | None  # the scale's spec.replicas; None when it could not be read
    target_missing: bool = False  # HTTP 404 reading the scale
    target_error: str | None = None  # any other failure reading the scale
    depth: float | None = None
    depth_error: str | None = None  # why the depth is None
    source: str = ""  # where the depth was read, for the condition's message
    pods: tuple[WorkerPod, ...] | None = None  # None: busy/idle unknown


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    status: dict
    events: tuple[Event, ...] = ()
    scale_to: int | None = None  # patch the scale to this; None: leave it
    pod_costs: dict[str, str] = field(default_factory=dict)  # written before the scale
    decision: Decision | None = None


def iso(now: float) -> str:
    return dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(conditions: list[dict], type_: str, status: bool, reason: str, message: str,
                  generation: int | None, now: float) -> list[dict]:
    """Replace one condition, keeping lastTransitionTime when its status did not change."""
    value = "True" if status else "False"
    old = get_condition(conditions, type_)
    changed = old is None or old.get("status") != value
    new = {
        "type": type_, "status": value, "reason": reason, "message": message[:1024],
        "lastTransitionTime": old.get("lastTransitionTime") if old is not None and not changed
        else iso(now),
        "observedGeneration": generation,
    }
    return [c for c in conditions if c.get("type") != type_] + [new]


def get_condition(conditions: list[dict], type_: str) -> dict | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def _status_of(conditions: list[dict], type_: str) -> str | None:
    c = get_condition(conditions, type_)
    return c.get("status") if c else None


def _reason_of(conditions: list[dict], type_: str) -> str | None:
    c = get_condition(conditions, type_)
    return c.get("reason") if c else None


class _Builder:
    def __init__(self, obs: Observation, conditions: list[dict]) -> None:
        self.obs = obs
        self.before = list(conditions)
        self.conditions = list(conditions)
        self.events: list[Event] = []

    def cond(self, type_: str, status: bool, reason: str, message: str) -> None:
        self.conditions = set_condition(self.conditions, type_, status, reason, message,
                                        self.obs.generation, self.obs.now)

    def event(self, type_: str, reason: str, message: str) -> None:
        self.events.append(Event(type_, reason, message))

    def ready(self, ok: bool, reason: str, message: str) -> None:
        """Ready, with a Warning when it turns False (or changes why) and a Normal
        ``Ready`` event when it comes back."""
        was, why = _status_of(self.before, "Ready"), _reason_of(self.before, "Ready")
        if not ok and (was != "False" or why != reason):
            self.event("Warning", reason, message)
        if ok and was == "False":
            self.event("Normal", "Ready", message)
        self.cond("Ready", ok, reason, message)


def plan(obs: Observation, spec: dict, status: dict, conditions: list[dict],
         state: PolicyState) -> Plan:
    """Everything one poll does, decided from what it observed."""
    b = _Builder(obs, conditions)
    pool = PoolSpec.from_spec(spec)
    base = {"observedGeneration": obs.generation, "lastPollTime": iso(obs.now),
            "paused": pool.paused}
    if obs.replicas is None:  # 1. the target Deployment's scale
        return _target_unread(b, obs, base)
    if _status_of(b.before, "TargetFound") == "False":
        b.event("Normal", "TargetFound", f"Deployment {obs.target!r} is back")
    b.cond("TargetFound", True, "Found", f"Deployment {obs.target!r}")
    current = obs.replicas

    # 2. the paused switch, announced once each way
    if pool.paused and not status.get("paused"):
        b.event("Normal", "Paused", f"spec.paused: holding {current} replicas")
    if not pool.paused and status.get("paused"):
        b.event("Normal", "Resumed", "spec.paused cleared: scaling from the queue again")

    # 3. busy and idle workers, 4. the decision
    idle, busy, removable = _worker_counts(obs, current)
    decision = decide(obs.depth, current, pool, state, obs.now, idle=removable)
    if obs.depth is None:
        message = f"queue depth unavailable: {obs.depth_error}; {decision.message}"
        if _status_of(b.before, "MetricsAvailable") != "False":
            b.event("Warning", "MetricsUnavailable", message)
        b.cond("MetricsAvailable", False, "ReadFailed", message)
    else:
        b.cond("MetricsAvailable", True, "ReadOk", f"read {obs.source}")
    fields: dict = {**base, "desiredReplicas": decision.desired, "currentReplicas": current,
                    "policy": decision.state.to_status(), "idleWorkers": idle,
                    "busyWorkers": busy}
    if obs.depth is not None:
        fields["queueDepth"] = int(obs.depth)

    # 5. act: pod costs first, so that the ReplicaSet removes idle pods
    scale_to = decision.desired if decision.scales(current) else None
    costs = _pod_costs(obs, current, scale_to)
    _scaling_conditions(b, decision, pool, current, scale_to, fields)
    _ready_condition(b, decision, pool, obs)  # 6. Ready: the pool is served as its spec says
    fields["conditions"] = b.conditions
    return Plan(status=fields, events=tuple(b.events), scale_to=scale_to, pod_costs=costs,
                decision=decision)


def _target_unread(b: _Builder, obs: Observation, base: dict) -> Plan:
    """The target's scale could not be read: missing, or the read failed."""
    if obs.target_missing:
        message = f"Deployment {obs.target!r} not found"
        if _status_of(b.before, "TargetFound") != "False":
            b.event("Warning", "TargetNotFound", f"{message} in its namespace")
        b.cond("TargetFound", False, "NotFound", message)
        b.conditions = set_condition(b.conditions, "Ready", False, "TargetNotFound",
                                     message, obs.generation, obs.now)
        return Plan(status={**base, "currentReplicas": None, "conditions": b.conditions},
                    events=tuple(b.events))
    message = f"reading Deployment {obs.target!r} scale: {obs.target_error}"
    b.cond("TargetFound", False, "ReadFailed", message)
    b.ready(False, "TargetReadFailed", message)
    return Plan(status={**base, "conditions": b.conditions}, events=tuple(b.events))


def _worker_counts(obs: Observation, current: int
                   ) -> tuple[int | None, int | None, int | None]:
    """(idle, busy, removable) workers; None without a pod reading."""
    if obs.pods is None:
        return None, None, None
    idle = sum(1 for p in obs.pods if p.busy is False)
    busy = sum(1 for p in obs.pods if p.busy is True)
    # Pods beyond the replicas are already on their way out (the ReplicaSet has not
    # caught up): they take idle ones with them, which must not be counted twice.
    # Replicas with no pod yet hold no task: they may go.
    removable = max(0, idle - max(0, len(obs.pods) - current)
                    + max(0, current - len(obs.pods)))
    return idle, busy, removable


def _pod_costs(obs: Observation, current: int, scale_to: int | None) -> dict[str, str]:
    """Deletion costs to set before a scale-in, so that idle pods go first."""
    costs: dict[str, str] = {}
    if scale_to is None or scale_to >= current or obs.pods is None:
        return costs
    for p in obs.pods:
        if p.busy is None:  # no heartbeat: unknown, left alone
            continue
        wanted = BUSY_COST if p.busy else IDLE_COST
        if p.cost != wanted:
            costs[p.name] = wanted
    return costs


def _scaling_conditions(b: _Builder, decision: Decision, pool: PoolSpec, current: int,
                        scale_to: int | None, fields: dict) -> None:
    if scale_to is not None:
        message = f"{current} → {scale_to}: {decision.message}"
        b.event("Normal", decision.reason, message)
        fields.update(currentReplicas=scale_to, lastScaleTime=iso(b.obs.now),
                      lastScaleReason=message)
        b.cond("Scaling", True, decision.reason, message)
        b.cond("Stable", False, decision.reason, message)
        return
    scaling = decision.reason in ("Stabilizing", "WaitingForIdle")
    b.cond("Scaling", scaling, decision.reason, decision.message)
    # without a reading, whether the replicas fit the queue is unknown: not Stable
    stable = not scaling and decision.raw is not None and not pool.paused
    b.cond("Stable", stable, decision.reason, decision.message)


def _ready_condition(b: _Builder, decision: Decision, pool: PoolSpec,
                     obs: Observation) -> None:
    if decision.reason == "Fallback":
        b.ready(False, "FallbackActive", decision.message)
    elif obs.depth is None and decision.state.failed_reads >= pool.failure_threshold:
        b.ready(False, "ReadsFailing", decision.message)
    elif pool.paused:
        b.ready(True, "Paused", decision.message)
    else:
        b.ready(True, "Reconciled", decision.message)


def scale_failed(p: Plan, obs: Observation, error: str) -> Plan:
    """The plan after its scale patch failed: nothing changed, say why."""
    b = _Builder(obs, p.status["conditions"])
    scaled = p.decision.reason if p.decision is not None else None
    b.events = [e for e in p.events if e.reason != scaled]
    message = f"patching {obs.target} to {p.scale_to}: {error}"
    b.event("Warning", "ScaleFailed", message)
    b.cond("Scaling", False, "ScaleFailed", message)
    b.conditions = set_condition(b.conditions, "Ready", False, "ScaleFailed", message,
                                 obs.generation, obs.now)
    status = {k: v for k, v in p.status.items() if k not in ("lastScaleTime", "lastScaleReason")}
    status.update(currentReplicas=obs.replicas, conditions=b.conditions)
    return replace(p, status=status, events=tuple(b.events))
