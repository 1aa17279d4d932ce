#!/usr/bin/env python3
"""Print the Markdown table of every value of charts/registro from values.yaml, whose
`# -- ` comments are the descriptions (helm-docs style).

    .venv/bin/python scripts/chart-values-table.py            # print the table
    .venv/bin/python scripts/chart-values-table.py --write    # update charts/registro/README.md

The README's table sits between "Every value (generated from `values.yaml`" and the
next heading; tests/delivery/test_chart.py checks it is up to date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parents[1] / "charts" / "registro"
# Values rendered as one block (their inner keys are Kubernetes fields, not chart knobs).
OPAQUE = {"podSecurityContext", "securityContext", "resources", "setupResources", "labels",
          "annotations", "affinity", "nodeSelector", "podAnnotations", "peers"}
KEY = re.compile(r"^(\s*)([A-Za-z0-9_-]+):")
START = "Every value (generated from `values.yaml`"


def descriptions(text: str) -> dict[str, str]:
    """Dotted key path -> the `# -- ` comment right above the key."""
    out: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# -- "):
            pending = stripped[5:]
            continue
        if not stripped or stripped.startswith(("#", "- ")):
            continue
        m = KEY.match(line)
        if not m:
            continue
        indent, key = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [key])
        stack.append((indent, key))
        if pending is not None:
            out[path] = pending
            pending = None
    return out


def leaves(values: dict, prefix: str = ""):
    for key, value in values.items():
        if isinstance(value, dict) and value and key not in OPAQUE:
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def default(value) -> str:
    dumped = yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
    return dumped.removesuffix("\n...").strip()


def table() -> str:
    text = (CHART / "values.yaml").read_text()
    docs = descriptions(text)
    rows = ["| Key | Default | Description |", "| --- | --- | --- |"]
    missing = []
    for path, value in leaves(yaml.safe_load(text)):
        if path not in docs:
            missing.append(path)
            continue
        desc = docs[path].replace("|", "\\|")
        rows.append(f"| `{path}` | `{default(value)}` | {desc} |")
    if missing:
        sys.exit(f"values.yaml keys without a '# -- ' description: {missing}")
    return "\n".join(rows) + "\n"


def replace_in_readme(readme: str, new_table: str) -> str:
    head, _, rest = readme.partition(START)
    intro, _, after_intro = rest.partition("\n\n")
    tail = after_intro[after_intro.find("\n#"):] if "\n#" in after_intro else ""
    return f"{head}{START}{intro}\n\n{new_table}{tail}"


if __name__ == "__main__":
    generated = table()
    if "--write" in sys.argv[1:]:
        readme = CHART / "README.md"
        readme.write_text(replace_in_readme(readme.read_text(), generated))
    else:
        sys.stdout.write(generated)
