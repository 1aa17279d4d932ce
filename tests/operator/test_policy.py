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


def test_unavailable_metric_restarts_the_scale_down_window():
    state, current, history = PolicyState(), 3, []
    for i in range(112):  # an empty queue every 10 s, but the metric vanished once at 500 s
        d = decide(None if i == 50 else 0, current, SPEC, state, now=1000.0 + 10 * i)
        state, current = d.state, d.desired
        history.append(current)
    # 600 s of fresh readings after the gap (first one at step 51) are needed
    assert history[:111] == [3] * 111
    assert history[111] == 1


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
