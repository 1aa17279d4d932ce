"""Pure scaling decisions: no I/O, no clock, no Kubernetes. Tested on tables of cases.

The algorithm follows the HPA's stabilization idea, with the state kept small and
serialisable (it lives in the ScraperPool's status so a restarted operator goes on
where the last one stopped):

* raw = ceil(depth / tasks_per_worker), clamped to [min, max];
* every poll records its raw recommendation; for each distinct value only the most
  recent time it was recommended is kept (at most max - min + 1 entries);
* scale up to the smallest recommendation of the scale-up window (0 s: at once);
* scale down only to the largest recommendation of the scale-down window, and only
  once the operator has watched the queue for a whole window: a noisy queue that
  spikes once in the window keeps the replicas where they are (no flapping);
* a failed read holds the replicas; only ``failure_threshold`` consecutive failures
  restart the scale-down observation (one flaky read no longer keeps the pool up
  forever) and switch to ``fallback_replicas`` when it is set (KEDA's ``fallback``);
* each poll moves at most ``scale_up_step`` / ``scale_down_step`` replicas (HPA
  ``behavior`` policies), and a scale-down removes no more than the idle workers;
* ``paused`` holds the replicas whatever the queue says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PoolSpec:
    min_replicas: int = 1
    max_replicas: int = 3
    tasks_per_worker: int = 3
    scale_up_window_s: float = 0.0
    scale_down_window_s: float = 600.0
    paused: bool = False
    fallback_replicas: int | None = None  # None: hold the replicas however long reads fail
    failure_threshold: int = 3  # consecutive failed reads before the fallback / window reset
    scale_up_step: int | None = None  # most replicas added per poll (None: no limit)
    scale_down_step: int | None = None  # most replicas removed per poll

    @classmethod
    def from_spec(cls, spec: dict) -> PoolSpec:
        return cls(
            min_replicas=int(spec.get("minReplicas", 1)),
            max_replicas=int(spec.get("maxReplicas", 3)),
            tasks_per_worker=int(spec.get("tasksPerWorker", 3)),
            scale_up_window_s=float(spec.get("scaleUpStabilizationSeconds", 0)),
            scale_down_window_s=float(spec.get("scaleDownStabilizationSeconds", 600)),
            paused=bool(spec.get("paused", False)),
            fallback_replicas=_opt_int(spec.get("fallbackReplicas")),
            failure_threshold=max(1, int(spec.get("failureThreshold", 3))),
            scale_up_step=_opt_int(spec.get("scaleUpStepLimit")),
            scale_down_step=_opt_int(spec.get("scaleDownStepLimit")),
        )


def _opt_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


@dataclass(frozen=True)
class PolicyState:
    """Most recent time (epoch seconds) each replica count was recommended, and since
    when the operator has been observing the queue without a gap in its history, and
    how many reads in a row have failed."""

    recommendations: dict[int, float] = field(default_factory=dict)
    observing_since: float | None = None
    failed_reads: int = 0

    def to_status(self) -> dict:
        return {
            "observingSince": self.observing_since,
            "failedReads": self.failed_reads,
            "recommendations": [
                {"replicas": r, "at": t} for r, t in sorted(self.recommendations.items())
            ],
        }

    @classmethod
    def from_status(cls, data: dict | None) -> PolicyState:
        if not data:
            return cls()
        recs: dict[int, float] = {}
        for item in data.get("recommendations") or []:
            try:
                recs[int(item["replicas"])] = float(item["at"])
            except (KeyError, TypeError, ValueError):
                continue
        since = data.get("observingSince")
        try:
            failed = max(0, int(data.get("failedReads") or 0))
        except (TypeError, ValueError):
            failed = 0
        return cls(recs, float(since) if since is not None else None, failed)


@dataclass(frozen=True)
class Decision:
    desired: int
    raw: int | None  # the unstabilised recommendation; None when no metric was read
    state: PolicyState
    reason: str  # short CamelCase word, used as the Event reason
    message: str  # human explanation, e.g. "queue 12 > 3 per worker × 2"

    def scales(self, current: int) -> bool:
        return self.desired != current


def raw_recommendation(depth: float, spec: PoolSpec) -> int:
    wanted = math.ceil(depth / spec.tasks_per_worker) if depth > 0 else 0
    return clamp(wanted, spec)


def clamp(replicas: int, spec: PoolSpec) -> int:
    return max(spec.min_replicas, min(spec.max_replicas, replicas))


def _fmt(depth: float) -> str:
    return str(int(depth)) if float(depth).is_integer() else f"{depth:g}"


def decide(
    depth: float | None, current: int, spec: PoolSpec, state: PolicyState, now: float,
    idle: int | None = None,
) -> Decision:
    """Desired replicas for a queue ``depth`` (None: the metric could not be read).

    ``idle``: how many worker pods hold no task (None: unknown, Kubernetes picks which
    pods go). A scale-down never removes more than that; the rest waits for a later poll.
    """
    d = _decide(depth, current, spec, state, now, idle)
    if spec.paused:
        held = Decision(current, d.raw, d.state, "Paused",
                        f"paused; holding {current} replicas")
        return held if d.desired == current else _replace_message(
            held, f"paused; holding {current} replicas (would be {d.desired}: {d.message})")
    return d


def _replace_message(d: Decision, message: str) -> Decision:
    return Decision(d.desired, d.raw, d.state, d.reason, message)


def _decide(depth: float | None, current: int, spec: PoolSpec, state: PolicyState, now: float,
            idle: int | None) -> Decision:
    if depth is None or not math.isfinite(depth) or depth < 0:
        return _unreadable(current, spec, state)

    raw = raw_recommendation(depth, spec)
    horizon = max(spec.scale_up_window_s, spec.scale_down_window_s)
    recs = {r: t for r, t in state.recommendations.items() if now - t <= horizon}
    recs[raw] = now
    since = state.observing_since if state.observing_since is not None else now
    new_state = PolicyState(recs, since, 0)

    up_floor = min((r for r, t in recs.items() if now - t <= spec.scale_up_window_s), default=raw)
    down_ceiling = max(r for r, t in recs.items() if now - t <= spec.scale_down_window_s)
    watched_full_window = now - since >= spec.scale_down_window_s

    d = _fmt(depth)
    per = spec.tasks_per_worker
    if current < up_floor:
        desired = _step(current, clamp(up_floor, spec), spec)
        return Decision(desired, raw, new_state, "ScaledUp",
                        f"queue {d} > {per} per worker × {current}")
    if current > down_ceiling and watched_full_window:
        target = clamp(down_ceiling, spec)
        desired = _step(current, target, spec)
        if idle is not None:  # only idle pods go; the pool's max still binds
            desired = min(max(desired, current - max(0, idle)), spec.max_replicas)
        if desired == current:
            return Decision(current, raw, new_state, "WaitingForIdle",
                            f"queue {d} needs {target}; every one of {current} workers "
                            "is busy, none removed until one is idle")
        rest = "" if desired == _step(current, target, spec) else \
            f"; only {current - desired} idle, the rest when idle"
        return Decision(desired, raw, new_state, "ScaledDown",
                        f"queue {d} ≤ {per} per worker × {target} "
                        f"for {_fmt(spec.scale_down_window_s)}s{rest}")
    desired = clamp(current, spec)
    if desired != current:  # outside the pool's bounds (spec edited): obey the bounds
        reason = "ScaledUp" if desired > current else "ScaledDown"
        return Decision(desired, raw, new_state, reason,
                        f"replicas {current} outside [{spec.min_replicas}, {spec.max_replicas}]")
    if raw < current:
        return Decision(current, raw, new_state, "Stabilizing",
                        f"queue {d} needs {raw}; holding {current} until it stays low "
                        f"for {_fmt(spec.scale_down_window_s)}s")
    return Decision(current, raw, new_state, "Stable", f"queue {d} fits {current} × {per}")


def _step(current: int, target: int, spec: PoolSpec) -> int:
    """At most ``scale_up_step`` more / ``scale_down_step`` fewer replicas than now."""
    if target > current and spec.scale_up_step is not None:
        return min(target, current + spec.scale_up_step)
    if target < current and spec.scale_down_step is not None:
        return max(target, current - spec.scale_down_step)
    return target


def _unreadable(current: int, spec: PoolSpec, state: PolicyState) -> Decision:
    """Never scale blindly. Below ``failure_threshold`` consecutive failures: hold, and
    keep the observation (a flaky read must not keep the pool up forever). At the
    threshold: restart the observation, so a scale-down needs a full window of fresh
    readings, and apply ``fallback_replicas`` if set. Only the pool's bounds still apply."""
    failed = state.failed_reads + 1
    n = spec.failure_threshold
    if failed < n:
        desired = clamp(current, spec)
        return Decision(desired, None, PolicyState(state.recommendations, state.observing_since,
                                                   failed),
                        "MetricsUnavailable",
                        f"queue depth unknown ({failed} of {n} failed reads); "
                        f"holding {desired} replicas")
    new_state = PolicyState(state.recommendations, None, failed)
    if spec.fallback_replicas is not None:
        desired = _step(current, clamp(spec.fallback_replicas, spec), spec)
        return Decision(desired, None, new_state, "Fallback",
                        f"queue depth unknown for {failed} reads; "
                        f"fallback to {clamp(spec.fallback_replicas, spec)} replicas")
    desired = clamp(current, spec)
    return Decision(desired, None, new_state, "MetricsUnavailable",
                    f"queue depth unknown for {failed} reads; holding {desired} replicas")
