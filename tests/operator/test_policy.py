"""The scaling policy as plain functions, on tables of cases."""

from __future__ import annotations

import math

import pytest

from registro_operator.policy import PolicyState, PoolSpec, decide, raw_recommendation

pytestmark = pytest.mark.fast

SPEC = PoolSpec(min_replicas=1, max_replicas=3, tasks_per_worker=3,
                scale_up_window_s=0, scale_down_window_s=600)


@pytest.mark.parametrize(("depth", "expected"), [
    (0, 1), (1, 1), (3, 1), (4, 2), (6, 2), (7, 3), (9, 3), (10, 3), (1000, 3), (0.5, 1),
])
def test_raw_recommendation_is_ceil_clamped(depth, expected):
    assert raw_recommendation(depth, SPEC) == expected


def run(series, current=1, spec=SPEC, step=10.0, state=None):
    """Feed (depth) samples every ``step`` seconds, applying each decision; return the
    replica count after each sample."""
    state = state or PolicyState()
    out = []
    for i, depth in enumerate(series):
        d = decide(depth, current, spec, state, now=1000.0 + i * step)
        state, current = d.state, d.desired
        out.append(current)
    return out


@pytest.mark.parametrize(("name", "series", "start", "expected"), [
    ("scale up at once", [0, 12], 1, [1, 3]),
    ("up by the queue, one step", [0, 5], 1, [1, 2]),
    ("never above max", [0, 999], 1, [1, 3]),
    ("never below min on an empty queue", [0, 0, 0], 1, [1, 1, 1]),
    # 600 s window at 10 s steps: the drop is honoured only 600 s after the last high sample
    ("scale down only after the window", [12] + [0] * 61, 3, [3] * 61 + [1]),
    # one spike every 5 minutes keeps the pool up: no flapping on a noisy metric
    ("noisy metric does not flap", ([9] + [0] * 29) * 4, 3, [3] * 120),
    # down only to the highest recommendation of the window
    ("down to the window's max", [9, 4] + [0] * 60, 3, [3] * 61 + [2]),
])
def test_stabilization_table(name, series, start, expected):
    assert run(series, current=start) == expected, name


def test_scale_up_window_requires_a_sustained_queue():
    spec = PoolSpec(scale_up_window_s=30, scale_down_window_s=600)
    # a single high sample is ignored; four samples over 30 s scale up
    assert run([0, 12, 0, 0], spec=spec) == [1, 1, 1, 1]
    assert run([0, 12, 12, 12, 12], spec=spec) == [1, 1, 1, 1, 3]


@pytest.mark.parametrize("depth", [None, math.nan, math.inf, -1.0])
@pytest.mark.parametrize("current", [1, 2, 3])
def test_unavailable_or_malformed_metric_holds_current(depth, current):
    d = decide(depth, current, SPEC, PolicyState(), now=0)
    assert d.desired == current
    assert d.raw is None
    assert d.reason == "MetricsUnavailable"


def empty_queue_with_gaps(gaps: set[int], steps: int = 112, spec: PoolSpec = SPEC) -> list[int]:
    """An empty queue read every 10 s from 3 replicas; reads at ``gaps`` fail."""
    state, current, history = PolicyState(), 3, []
    for i in range(steps):
        d = decide(None if i in gaps else 0, current, spec, state, now=1000.0 + 10 * i)
        state, current = d.state, d.desired
        history.append(current)
    return history


@pytest.mark.parametrize(("name", "gaps", "first_down"), [
    ("no gap: down 600 s after the first reading", set(), 60),
    # fewer than failure_threshold (3) failures in a row keep the observation
    ("one failed read", {50}, 60),
    ("two in a row", {50, 51}, 60),
    ("a flaky metric failing every third read", set(range(2, 112, 3)), 60),
    # three in a row restart it: 600 s of fresh readings after the gap (from step 53)
    ("three in a row", {50, 51, 52}, 113),
])
def test_failed_reads_restart_the_window_only_after_the_threshold(name, gaps, first_down):
    history = empty_queue_with_gaps(gaps, steps=120)
    assert history.index(1) == first_down if first_down < 120 else 1 not in history, name
    if first_down < 120:
        assert history[:first_down] == [3] * first_down, name


@pytest.mark.parametrize(("name", "fallback", "start", "series", "expected", "reasons"), [
    ("holds until the threshold, then the fallback", 2, 3, [None, None, None, None],
     [3, 3, 2, 2], ["MetricsUnavailable", "MetricsUnavailable", "Fallback", "Fallback"]),
    ("fallback can scale up", 3, 1, [None, None, None], [1, 1, 3],
     ["MetricsUnavailable", "MetricsUnavailable", "Fallback"]),
    ("fallback clamped to the bounds", 9, 1, [None, None, None], [1, 1, 3],
     ["MetricsUnavailable", "MetricsUnavailable", "Fallback"]),
    # reads return: the queue decides again (up at once; down only after a new window)
    ("clears on a good read, scaling up", 1, 3, [None, None, None, 12], [3, 3, 1, 3],
     ["MetricsUnavailable", "MetricsUnavailable", "Fallback", "ScaledUp"]),
    ("clears on a good read, window restarted", 3, 1, [None, None, None, 0, 0], [1, 1, 3, 3, 3],
     ["MetricsUnavailable", "MetricsUnavailable", "Fallback", "Stabilizing", "Stabilizing"]),
    ("no fallback: hold for ever", None, 2, [None] * 5, [2] * 5, ["MetricsUnavailable"] * 5),
])
def test_fallback_table(name, fallback, start, series, expected, reasons):
    spec = PoolSpec(fallback_replicas=fallback, failure_threshold=3)
    state, current, got, why = PolicyState(), start, [], []
    for i, depth in enumerate(series):
        d = decide(depth, current, spec, state, now=1000.0 + 10 * i)
        state, current = d.state, d.desired
        got.append(current)
        why.append(d.reason)
    assert (got, why) == (expected, reasons), name


def test_failed_read_count_is_kept_and_reset():
    spec = PoolSpec(failure_threshold=3)
    d1 = decide(None, 2, spec, PolicyState(), now=0)
    d2 = decide(None, 2, spec, d1.state, now=10)
    assert (d1.state.failed_reads, d2.state.failed_reads) == (1, 2)
    assert "2 of 3 failed reads" in d2.message
    assert PolicyState.from_status(d2.state.to_status()) == d2.state
    assert decide(0, 2, spec, d2.state, now=20).state.failed_reads == 0


@pytest.mark.parametrize(("name", "spec", "depth", "current", "idle", "expected", "reason"), [
    ("up step 1", PoolSpec(max_replicas=10, scale_up_step=1), 30, 1, None, 2, "ScaledUp"),
    ("up step 4", PoolSpec(max_replicas=10, scale_up_step=4), 30, 1, None, 5, "ScaledUp"),
    ("up unlimited", PoolSpec(max_replicas=10), 30, 1, None, 10, "ScaledUp"),
    ("down step 1", PoolSpec(max_replicas=10, scale_down_step=1), 0, 5, None, 4, "ScaledDown"),
    ("down by the idle pods only", PoolSpec(max_replicas=10), 0, 5, 2, 3, "ScaledDown"),
    ("idle more than needed", PoolSpec(max_replicas=10), 0, 3, 3, 1, "ScaledDown"),
    ("step and idle: the smaller", PoolSpec(max_replicas=10, scale_down_step=1), 0, 5, 3, 4,
     "ScaledDown"),
    ("every pod busy: wait", PoolSpec(max_replicas=10), 0, 3, 0, 3, "WaitingForIdle"),
    # bounds from an edited spec are obeyed whatever the pods do
    ("bounds beat busy pods", PoolSpec(max_replicas=2), 9, 3, 0, 2, "ScaledDown"),
])
def test_step_limits_and_idle_pods_table(name, spec, depth, current, idle, expected, reason):
    spec = PoolSpec(**{**spec.__dict__, "scale_down_window_s": 0})
    state = PolicyState({}, observing_since=0.0)
    d = decide(depth, current, spec, state, now=100, idle=idle)
    assert (d.desired, d.reason) == (expected, reason), name


def test_partial_scale_down_says_the_rest_waits():
    d = decide(0, 3, PoolSpec(scale_down_window_s=0), PolicyState({}, 0.0), now=1, idle=1)
    assert (d.desired, d.message) == (2, "queue 0 ≤ 3 per worker × 1 for 0s; "
                                         "only 1 idle, the rest when idle")


def test_all_busy_message_says_why():
    d = decide(0, 3, PoolSpec(scale_down_window_s=0), PolicyState({}, 0.0), now=1, idle=0)
    assert d.message == ("queue 0 needs 1; every one of 3 workers is busy, "
                         "none removed until one is idle")


@pytest.mark.parametrize(("name", "depth", "current", "expected_message"), [
    ("queue would scale up", 12, 1, "paused; holding 1 replicas (would be 3: queue 12 > 3 "
                                    "per worker × 1)"),
    ("queue fits", 3, 1, "paused; holding 1 replicas"),
    ("no metric", None, 2, "paused; holding 2 replicas"),
    ("outside the bounds", 0, 7, "paused; holding 7 replicas (would be 3: replicas 7 "
                                 "outside [1, 3])"),
])
def test_paused_holds_table(name, depth, current, expected_message):
    d = decide(depth, current, PoolSpec(paused=True), PolicyState(), now=0)
    assert (d.desired, d.reason, d.message) == (current, "Paused", expected_message), name


def test_paused_keeps_observing_so_resuming_continues_the_window():
    paused, live = PoolSpec(paused=True), SPEC
    state, current = PolicyState(), 3
    for i in range(61):  # 600 s of an empty queue while paused: nothing moves
        d = decide(0, current, paused, state, now=1000.0 + 10 * i)
        state, current = d.state, d.desired
    assert current == 3
    assert decide(0, current, live, state, now=1000.0 + 610).desired == 1


def test_bounds_from_an_edited_spec_apply_even_without_metrics():
    narrowed = PoolSpec(min_replicas=1, max_replicas=2, tasks_per_worker=3)
    assert decide(None, 3, narrowed, PolicyState(), now=0).desired == 2
    raised = PoolSpec(min_replicas=2, max_replicas=3, tasks_per_worker=3)
    assert decide(0, 1, raised, PolicyState(), now=0).desired == 2


def test_event_message_explains_the_scale():
    up = decide(12, 2, SPEC, PolicyState(), now=0)
    assert (up.desired, up.reason, up.message) == (3, "ScaledUp", "queue 12 > 3 per worker × 2")
    state = PolicyState({1: 0.0}, observing_since=0.0)
    down = decide(2, 3, SPEC, state, now=600)
    assert (down.desired, down.reason) == (1, "ScaledDown")
    assert down.message == "queue 2 ≤ 3 per worker × 1 for 600s"


def test_state_round_trips_through_status_and_a_restart_continues():
    state = PolicyState()
    current = 3
    for i in range(30):  # 300 s of an empty queue, then the operator restarts
        d = decide(0, current, SPEC, state, now=1000.0 + 10 * i)
        state, current = d.state, d.desired
    restored = PolicyState.from_status(state.to_status())
    assert restored == state
    for i in range(30, 61):
        d = decide(0, current, SPEC, restored, now=1000.0 + 10 * i)
        restored, current = d.state, d.desired
    assert current == 1  # 600 s after the first low sample, not 600 s after the restart


def test_state_stays_small():
    state = PolicyState()
    for i in range(1000):
        state = decide(i % 13, 2, SPEC, state, now=float(i)).state
    assert len(state.recommendations) <= SPEC.max_replicas - SPEC.min_replicas + 1


@pytest.mark.parametrize("data", [None, {}, {"recommendations": [{"replicas": "x"}, {}]}])
def test_state_from_garbage_status_is_empty(data):
    assert PolicyState.from_status(data).recommendations == {}
