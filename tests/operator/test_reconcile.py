"""One poll as a pure function (``reconcile.plan``): observations in, status, events,
scale and pod-deletion costs out. Tables of cases, no cluster."""

from __future__ import annotations

import pytest

from registro_operator.policy import PolicyState
from registro_operator.reconcile import (
    BUSY_COST,
    IDLE_COST,
    Observation,
    Plan,
    WorkerPod,
    get_condition,
    plan,
    scale_failed,
)

pytestmark = pytest.mark.fast

SPEC = {"targetRef": {"name": "workers"}, "minReplicas": 1, "maxReplicas": 3,
        "tasksPerWorker": 3, "scaleDownStabilizationSeconds": 0}


def obs(**kw) -> Observation:
    base: dict = {"now": 1000.0, "generation": 1, "target": "workers", "replicas": 1,
                  "depth": 0.0, "source": "redis queue 'scraping'"}
    return Observation(**{**base, **kw})


def polls(observations: list[Observation], spec: dict | None = None) -> list[Plan]:
    """Run plans in sequence, each from the status the previous one left."""
    status: dict = {}
    state = PolicyState()
    out = []
    for o in observations:
        p = plan(o, spec or SPEC, status, list(status.get("conditions") or []), state)
        status = {**status, **p.status}
        if p.decision is not None:
            state = p.decision.state
        out.append(p)
    return out


def cond(p: Plan, type_: str) -> tuple[str, str]:
    c = get_condition(p.status["conditions"], type_)
    assert c is not None
    return c["status"], c["reason"]


def reasons(p: Plan) -> list[str]:
    return [e.reason for e in p.events]


@pytest.mark.parametrize(("name", "observation", "spec", "ready"), [
    ("reads fine", obs(depth=0.0), {}, ("True", "Reconciled")),
    ("target missing", obs(replicas=None, target_missing=True), {}, ("False", "TargetNotFound")),
    ("target unreadable", obs(replicas=None, target_error="HTTP 500"), {},
     ("False", "TargetReadFailed")),
    ("one failed read is not yet a problem", obs(depth=None, depth_error="down"), {},
     ("True", "Reconciled")),
    ("paused", obs(depth=12.0), {"paused": True}, ("True", "Paused")),
])
def test_ready_condition_table(name, observation, spec, ready):
    (p,) = polls([observation], {**SPEC, **spec})
    assert cond(p, "Ready") == ready, name


@pytest.mark.parametrize(("name", "spec", "ready", "scale_to"), [
    ("no fallback: not Ready after 3 failed reads", {}, ("False", "ReadsFailing"), None),
    ("fallback: not Ready, scaled to it", {"fallbackReplicas": 2},
     ("False", "FallbackActive"), 2),
])
def test_failed_reads_turn_ready_false_at_the_threshold(name, spec, ready, scale_to):
    down = obs(depth=None, depth_error="connection refused")
    after = Observation(**{**down.__dict__, "replicas": scale_to or 1})  # the scale applied
    ps = polls([down, down, down, after], {**SPEC, "failureThreshold": 3, **spec})
    assert [cond(p, "Ready")[0] for p in ps] == ["True", "True", "False", "False"], name
    assert cond(ps[2], "Ready") == ready
    assert ps[2].scale_to == scale_to
    assert ps[3].scale_to is None  # applied once
    # one MetricsUnavailable when reads start failing, one Ready warning at the threshold
    assert [reasons(p) for p in ps] == [["MetricsUnavailable"], [],
                                        (["Fallback"] if scale_to else []) + [ready[1]], []]
    fits = obs(replicas=scale_to or 1, depth=3.0 * (scale_to or 1))
    back = polls([down, down, down, fits],
                 {**SPEC, "failureThreshold": 3, **spec})[-1]
    assert cond(back, "Ready") == ("True", "Reconciled")
    assert reasons(back) == ["Ready"]
    assert back.status["policy"]["failedReads"] == 0


def test_events_only_on_transitions_never_per_poll():
    ps = polls([obs(depth=0.0)] * 3 + [obs(depth=None, depth_error="x")] * 3
               + [obs(replicas=None, target_missing=True)] * 3 + [obs(depth=0.0)] * 2)
    assert [reasons(p) for p in ps] == [
        [], [], [],
        ["MetricsUnavailable"], [], ["ReadsFailing"],
        ["TargetNotFound"], [], [],
        ["TargetFound", "Ready"], [],
    ]


def test_paused_announced_once_each_way_and_shown_in_status():
    paused = {**SPEC, "paused": True}
    ps = polls([obs(depth=12.0)] * 3, paused)
    assert [reasons(p) for p in ps] == [["Paused"], [], []]
    assert all(p.scale_to is None and p.status["paused"] is True for p in ps)
    assert ps[0].status["desiredReplicas"] == 1
    assert "would be 3" in get_condition(ps[0].status["conditions"], "Scaling")["message"]
    resumed = plan(obs(depth=12.0), SPEC, ps[-1].status, ps[-1].status["conditions"],
                   ps[-1].decision.state)
    assert reasons(resumed) == ["Resumed", "ScaledUp"]
    assert (resumed.scale_to, resumed.status["paused"]) == (3, False)


PODS = (WorkerPod("w-busy", True), WorkerPod("w-idle-1", False), WorkerPod("w-idle-2", False))


@pytest.mark.parametrize(("name", "replicas", "depth", "pods", "scale_to", "costs"), [
    ("scale-down marks busy high, idle low", 3, 0.0, PODS, 1,
     {"w-busy": BUSY_COST, "w-idle-1": IDLE_COST, "w-idle-2": IDLE_COST}),
    ("already marked: no patch", 3, 0.0,
     (WorkerPod("w-busy", True, BUSY_COST), WorkerPod("w-idle-1", False, IDLE_COST),
      WorkerPod("w-idle-2", False, IDLE_COST)), 1, {}),
    ("a pod with no heartbeat is not counted idle nor marked", 3, 0.0,
     (WorkerPod("w-busy", True), WorkerPod("w-new", None), WorkerPod("w-idle", False)), 2,
     {"w-busy": BUSY_COST, "w-idle": IDLE_COST}),
    ("every pod busy: nothing", 3, 0.0, tuple(WorkerPod(f"w{i}", True) for i in range(3)),
     None, {}),
    ("scale-up marks nothing", 1, 12.0, PODS[:1], 3, {}),
    # 3 pods for 2 replicas: one is already going; the one idle left is not cut again
    ("a scale-down in flight uses the idle pod up", 2, 0.0,
     (*PODS[:2], WorkerPod("w-busy-2", True)), None, {}),
    ("four pods, three replicas, two idle: one more may go", 3, 0.0,
     (*PODS, WorkerPod("w-busy-2", True)), 2,
     {"w-busy": BUSY_COST, "w-idle-1": IDLE_COST, "w-idle-2": IDLE_COST,
      "w-busy-2": BUSY_COST}),
    ("busy/idle unknown: Kubernetes picks, as before", 3, 0.0, None, 1, {}),
    ("replicas with no pod hold nothing: they go", 3, 0.0, (), 1, {}),
    ("one busy pod of three replicas: the two missing go", 3, 0.0, PODS[:1], 1,
     {"w-busy": BUSY_COST}),
])
def test_scale_in_by_idle_pods_table(name, replicas, depth, pods, scale_to, costs):
    (p,) = polls([obs(replicas=replicas, depth=depth, pods=pods)])
    assert (p.scale_to, p.pod_costs) == (scale_to, costs), name


def test_every_pod_busy_is_reported_as_waiting():
    busy = tuple(WorkerPod(f"w{i}", True) for i in range(3))
    (p,) = polls([obs(replicas=3, depth=0.0, pods=busy)])
    assert cond(p, "Scaling") == ("True", "WaitingForIdle")
    assert (p.status["busyWorkers"], p.status["idleWorkers"]) == (3, 0)
    assert reasons(p) == []


def test_a_failed_scale_patch_reports_instead_of_the_scale():
    o = obs(replicas=1, depth=12.0)
    (p,) = polls([o])
    assert reasons(p) == ["ScaledUp"]
    failed = scale_failed(p, o, "HTTP 409 Conflict")
    assert reasons(failed) == ["ScaleFailed"]
    assert cond(failed, "Ready") == ("False", "ScaleFailed")
    assert cond(failed, "Scaling") == ("False", "ScaleFailed")
    assert failed.status["currentReplicas"] == 1
    assert "lastScaleTime" not in failed.status
