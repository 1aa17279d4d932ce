"""YAML with positions: a document's data and where each part of it is written.

``compose(text)`` returns the data (what ``yaml.safe_load`` returns) and the node tree
it was built from; ``node_at(root, path)`` finds the node at a pydantic-style path
(mapping keys, list indices; ``"[key]"`` after a key means the key itself) or its
deepest existing ancestor, so every error can name a line and a column.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

KEY = "[key]"  # pydantic's marker for an error in a mapping's key
Path = tuple[str | int, ...]


def compose(text: str) -> tuple[Any, yaml.Node | None]:
    """The data and its node tree; raises ``yaml.YAMLError`` (with marks) on bad YAML."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        return (loader.construct_document(root) if root is not None else None), root
    finally:
        loader.dispose()


def _entry(node: yaml.MappingNode, key: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == str(key):
            return k, v
    return None


def node_at(root: yaml.Node, path: Path) -> yaml.Node:
    node = root
    for i, part in enumerate(path):
        if part == KEY:
            continue
        if isinstance(node, yaml.MappingNode):
            entry = _entry(node, part)
            if entry is None:
                return node
            node = entry[0] if path[i + 1:i + 2] == (KEY,) else entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def start(node: yaml.Node) -> tuple[int, int]:
    """1-based (line, column) where a node starts."""
    return node.start_mark.line + 1, node.start_mark.column + 1


def position(root: yaml.Node | None, path: Path) -> tuple[int, int] | None:
    """1-based (line, column) where the part at ``path`` (or its nearest ancestor) starts."""
    return start(node_at(root, path)) if root is not None else None


def duplicate_keys(node: yaml.Node | None, path: Path = ()) -> Iterator[tuple[Path, yaml.Node]]:
    """Keys written twice in one mapping (YAML keeps the last one silently): the path of
    each repeated key and the node of its second spelling."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if key is None:
                continue
            if key in seen:
                yield (*path, key), k
            seen.add(key)
            yield from duplicate_keys(v, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from duplicate_keys(item, (*path, i))
