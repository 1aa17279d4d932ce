"""Each Redis key of the product is spelled in one module, its owner, and written only
through the owner's operations (read from the source, nothing imported).

Owners: ``registro/pipeline_state.py`` (claims, task records, heartbeats, the
reconciler's state), ``registro/refresh_state.py`` (the refresh scheduler's),
``registro/queue.py`` (kombu's and Celery's layout), the two rate limiters, and
``worker/task_runs.py`` (which worker runs a task).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("registro", "api", "worker", "legacy_demo", "operator/registro_operator")
OWNERS = {"registro/pipeline_state.py", "registro/refresh_state.py", "registro/queue.py",
          "worker/ratelimit.py", "api/security.py", "worker/task_runs.py"}
# The API's status and queue-status reads (one round trip each, with the caller's limit)
# are given these keys by the owners' names: reads only.
READERS = {"api/task_status.py", "api/queue_status.py"}
KEY_NAME = re.compile(r"\b(?:state|pipeline_state|refresh_state)\.([A-Z_]+(?:_KEY|_PREFIX))\b"
                      r"|from registro\.(?:pipeline_state|refresh_state) import [^\n]*?"
                      r"\b([A-Z_]+(?:_KEY|_PREFIX))\b")
# kombu's and Celery's own keys: the queue's unacked hash and the result backend's prefix
TRANSPORT = {"unacked", "unacked_index", "celery-task-meta-"}


def _sources() -> dict[str, str]:
    return {str(p.relative_to(REPO)): p.read_text()
            for folder in SHIPPED for p in sorted((REPO / folder).rglob("*.py"))
            if "__pycache__" not in p.parts and "migrations" not in p.parts}


def _key_literals(source: str) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and ((node.value.startswith("registro:") and " " not in node.value)
                 or node.value in TRANSPORT)}


def test_each_key_is_spelled_in_one_module_its_owner():
    where: dict[str, set[str]] = {}
    for path, source in _sources().items():
        for key in _key_literals(source):
            where.setdefault(key, set()).add(path)
    assert len(where) >= 15, where  # the scan sees the keys
    twice = {k: v for k, v in where.items() if len(v) > 1}
    assert not twice, f"keys spelled in more than one module: {twice}"
    outside = {k: v for k, v in where.items() if not v <= OWNERS}
    assert not outside, f"keys spelled outside their owners: {outside}"
    # the result key is asked from Celery's backend (queue.result_key), never spelled
    assert "celery-task-meta-" not in where


def test_no_key_name_is_used_outside_its_owner_but_by_the_api_readers():
    used = {path: sorted({a or b for a, b in KEY_NAME.findall(source)})
            for path, source in _sources().items() if path not in OWNERS}
    stray = {path: names for path, names in used.items() if names and path not in READERS}
    assert not stray, f"modules using the owners' key names: {stray}"


def test_the_scan_sees_a_stray_key():
    assert _key_literals('KEY = "registro:new:thing"\nx = "registro: not a key"') == \
        {"registro:new:thing"}
    assert KEY_NAME.findall("client.set(state.CLAIM_PREFIX + n, t)") == [("CLAIM_PREFIX", "")]
