"""The ``Reason`` taxonomy covers every failure reason the product emits: a reason
written as a bare string anywhere in the shipped code must be one of its values."""

from __future__ import annotations

import ast
from pathlib import Path

from registro.errors import Reason

REPO = Path(__file__).resolve().parents[1]
# The operator's `reason=` are Kubernetes event reasons, another vocabulary.
PRODUCT = ("registro", "api", "worker", "legacy_demo")


def literal_reasons(source: str) -> set[str]:
    """String constants used as a reason: ``reason="x"``, ``{"reason": "x"}``,
    ``reason == "x"``, ``Reason("x")`` and ``record_failure(client, id, "x", ...)``."""
    found: set[str] = set()

    def text(node: ast.AST | None) -> str | None:
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) \
            else None

    def named_reason(node: ast.AST) -> bool:
        name = node.id if isinstance(node, ast.Name) else \
            node.attr if isinstance(node, ast.Attribute) else ""
        return name == "reason"

    for node in ast.walk(ast.parse(source)):
        values: list[str | None] = []
        if isinstance(node, ast.keyword) and node.arg == "reason":
            values.append(text(node.value))
        elif isinstance(node, ast.Dict):
            values += [text(v) for k, v in zip(node.keys, node.values, strict=True)
                       if text(k) == "reason"]
        elif isinstance(node, ast.Compare) and named_reason(node.left):
            values += [text(c) for c in node.comparators]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else ""
            if name == "Reason" and node.args:
                values.append(text(node.args[0]))
            if name == "record_failure" and len(node.args) >= 3:
                values.append(text(node.args[2]))
        found |= {v for v in values if v is not None}
    return found


def test_the_scanner_finds_each_form():
    planted = ('f(reason="a"); d = {"reason": "b"}; reason == "c"; Reason("d");'
               ' state.record_failure(r, tid, "e", "msg")')
    assert literal_reasons(planted) == {"a", "b", "c", "d", "e"}


def test_every_reason_in_the_code_is_a_reason_value():
    files = [p for part in PRODUCT for p in (REPO / part).rglob("*.py")]
    assert len(files) > 50
    unknown = {}
    for path in files:
        extra = literal_reasons(path.read_text(encoding="utf-8")) - {r.value for r in Reason}
        if extra:
            unknown[str(path.relative_to(REPO))] = sorted(extra)
    assert not unknown, f"reasons missing from registro.errors.Reason: {unknown}"
