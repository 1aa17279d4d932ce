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
  spikes once in the window keeps the replicas where they are (no flapping).
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

    @classmethod
    def from_spec(cls, spec: dict) -> PoolSpec:
        return cls(
            min_replicas=int(spec.get("minReplicas", 1)),
            max_replicas=int(spec.get("maxReplicas", 3)),
            tasks_per_worker=int(spec.get("tasksPerWorker", 3)),
            scale_up_window_s=float(spec.get("scaleUpStabilizationSeconds", 0)),
            scale_down_window_s=float(spec.get("scaleDownStabilizationSeconds", 600)),
        )


@dataclass(frozen=True)
class PolicyState:
    """Most recent time (epoch seconds) each replica count was recommended, and since
    when the operator has been observing the queue without a gap in its history."""

    recommendations: dict[int, float] = field(default_factory=dict)
    observing_since: float | None = None

    def to_status(self) -> dict:
        return {
            "observingSince": self.observing_since,
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
        return cls(recs, float(since) if since is not None else None)


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
    depth: float | None, current: int, spec: PoolSpec, state: PolicyState, now: float
) -> Decision:
    """Desired replicas for a queue ``depth`` (None: the metric could not be read)."""
    if depth is None or not math.isfinite(depth) or depth < 0:
        # Never scale blindly: hold (only the pool's own bounds still apply), and forget
        # the observation streak so a scale-down needs a full window of fresh readings.
        desired = clamp(current, spec)
        return Decision(desired, None, PolicyState(state.recommendations, None), "MetricsUnavailable",
                        f"queue depth unknown; holding {desired} replicas")

    raw = raw_recommendation(depth, spec)
    horizon = max(spec.scale_up_window_s, spec.scale_down_window_s)
    recs = {r: t for r, t in state.recommendations.items() if now - t <= horizon}
    recs[raw] = now
    since = state.observing_since if state.observing_since is not None else now
    new_state = PolicyState(recs, since)

    up_floor = min((r for r, t in recs.items() if now - t <= spec.scale_up_window_s), default=raw)
    down_ceiling = max(r for r, t in recs.items() if now - t <= spec.scale_down_window_s)
    watched_full_window = now - since >= spec.scale_down_window_s

    d = _fmt(depth)
    per = spec.tasks_per_worker
    if current < up_floor:
        desired = clamp(up_floor, spec)
        return Decision(desired, raw, new_state, "ScaledUp",
                        f"queue {d} > {per} per worker × {current}")
    if current > down_ceiling and watched_full_window:
        desired = clamp(down_ceiling, spec)
        return Decision(desired, raw, new_state, "ScaledDown",
                        f"queue {d} ≤ {per} per worker × {desired} "
                        f"for {_fmt(spec.scale_down_window_s)}s")
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
