"""Site profiles: the declarative description of one legacy site (YAML).

A profile says where the site is, how to log in, how to search an OS, how to
recognise the outcomes (logged in, wrong credentials, not found, HTTP error page,
session expired) and, for every field of ``registro.schemas.ScrapedOS``, where to
read it and how to parse it. The format is documented in ``worker/README.md``; its
models are in ``profile_model.py``, the fields' parser chains in ``field_parsers.py``;
this module loads a profile and validates it, every issue with its position.
"""

from __future__ import annotations

import logging
import types
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from registro.schemas import SCHEMA_VERSION, changes_since
from registro.worker import yaml_source
from registro.worker.field_parsers import (
    LOSSLESS,
    REQUIRED_FIELDS,
    chain_issue,
    field_type,
    parser_chain,
)
from registro.worker.profile_model import (
    Block,
    Condition,
    FieldSpec,
    Login,
    Search,
    SiteProfile,
    Step,
)
from registro.worker.yaml_source import KEY

log = logging.getLogger(__name__)

DEFAULT_PROFILE = "demo.yaml"

# Re-exported: the profile's models and its fields' chains, as callers know them.
__all__ = ["LOSSLESS", "REQUIRED_FIELDS", "Block", "Condition", "FieldSpec", "Login",
           "Search", "SiteProfile", "Step", "field_type", "parser_chain"]


@dataclass(frozen=True)
class Issue:
    """One problem (or, for ``note``, one schema change to know about) in a profile:
    where (a path into the YAML, and its line and column when read from a file), what,
    and how to fix it."""

    path: tuple[str | int, ...]
    message: str
    fix: str | None = None
    line: int | None = None
    column: int | None = None

    @property
    def where(self) -> str:
        return ".".join(str(p) for p in self.path if p != KEY) or "(top level)"

    def render(self, source: str) -> str:
        at = f"{source}:{self.line}:{self.column}: " if self.line is not None else ""
        text = f"{at}{self.where + ': ' if self.path else ''}{self.message}"
        return text + (f"\n    fix: {self.fix}" if self.fix else "")


class ProfileError(ValueError):
    """The profile file is missing, not YAML, or does not validate. ``issues`` lists
    every problem with its position."""

    def __init__(self, message: str, issues: list[Issue] | None = None):
        super().__init__(message)
        self.issues = issues or []


def default_profile_path() -> Path:
    return Path(str(resources.files("registro.worker") / "profiles" / DEFAULT_PROFILE))


# --- validation with positions --------------------------------------------------------------

def profile_issues(profile: SiteProfile) -> list[Issue]:
    """What the models cannot see alone: a field read twice, a required field missing,
    a parser chain that does not yield its field's type."""
    issues: list[Issue] = []
    seen: dict[str, str] = {}
    for i, block in enumerate(profile.extract):
        for key, spec in block.fields.items():
            path: tuple[str | int, ...] = ("extract", i, "fields", key)
            if key in seen:
                issues.append(Issue((*path, KEY), f"field {key} appears in blocks "
                                    f"{seen[key]!r} and {block.name!r}",
                                    "read it in one block only"))
            seen.setdefault(key, block.name)
            found = chain_issue(key, spec)
            if found is not None:
                at = (*path, "parse", len(spec.parse) - 1) if spec.parse else path
                issues.append(Issue(at, *found))
    missing = [k for k in REQUIRED_FIELDS if k not in seen]
    if missing:
        issues.append(Issue(("extract",), f"required fields missing from extract: {missing}",
                            "read them in a block's `fields`"))
    return issues


def _strip_optional(ann: Any) -> Any:
    if isinstance(ann, types.UnionType) or typing.get_origin(ann) is typing.Union:
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if models else args[0]
    return ann


def _expected_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The keys the model at ``loc`` accepts."""
    ann: Any = SiteProfile
    for part in loc:
        ann = _strip_optional(ann)
        origin = typing.get_origin(ann)
        if origin is list:
            ann = typing.get_args(ann)[0]
        elif origin is dict:
            ann = typing.get_args(ann)[1]
        elif isinstance(ann, type) and issubclass(ann, BaseModel) and part in ann.model_fields:
            ann = ann.model_fields[str(part)].annotation
        else:
            return []
    ann = _strip_optional(ann)
    return sorted(ann.model_fields) if isinstance(ann, type) and issubclass(ann, BaseModel) \
        else []


def _existing(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The longest prefix of ``loc`` present in ``data`` (drops pydantic's union tags)."""
    out: list[str | int] = []
    for part in loc:
        if part == KEY:
            out.append(part)
            continue
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_list or (isinstance(data, dict) and part in data)):
            break
        data = data[part]
        out.append(part)
    return tuple(out)


def _validation_issues(exc: ValidationError, data: Any) -> list[Issue]:
    merged: dict[tuple[str | int, ...], list[str]] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = loc if err["type"] == "missing" else _existing(data, loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":  # point at the key, not its value
            msg += f" (expected one of: {', '.join(_expected_keys(loc[:-1]))})"
            path = (*path, KEY)
        elif err["type"] == "missing":
            msg += f" (a key {loc[-1]!r})"
        merged.setdefault(path, []).append(msg)
    return [Issue(path, " or ".join(dict.fromkeys(msgs))) for path, msgs in merged.items()]


def locate(issue: Issue, root: yaml.Node | None) -> Issue:
    if issue.line is not None:
        return issue
    at = yaml_source.position(root, issue.path)
    if at is None:
        return issue
    return Issue(issue.path, issue.message, issue.fix, *at)


def parse_profile(data: Any, source: str = "<profile>",
                  root: yaml.Node | None = None) -> SiteProfile:
    """Validate a profile's data; ``root`` (its YAML nodes) gives every issue a line and
    column. Raises ``ProfileError`` listing all issues."""
    issues = [Issue(path, f"key {path[-1]!r} written twice in one mapping (YAML keeps only "
                    "the last)", "keep one", *yaml_source.start(node))
              for path, node in yaml_source.duplicate_keys(root)]
    profile: SiteProfile | None = None
    try:
        profile = SiteProfile.model_validate(data)
    except ValidationError as exc:
        issues += _validation_issues(exc, data)
    if profile is not None:
        issues += profile_issues(profile)
    if issues or profile is None:
        located = sorted((locate(i, root) for i in issues),
                         key=lambda i: (i.line or 0, i.column or 0))
        raise ProfileError("\n".join([f"invalid site profile {source}:",
                                      *("  " + i.render(source) for i in located)]), located)
    return profile


def read_source(path: Path) -> tuple[Any, yaml.Node | None]:
    """A profile file's data and YAML nodes; a YAML error names its line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"site profile not found: {path}") from None
    try:
        return yaml_source.compose(text)
    except yaml.MarkedYAMLError as exc:
        mark, context = exc.problem_mark or exc.context_mark, ""
        if exc.context and exc.context_mark is not None:
            cm = exc.context_mark
            context = f" ({exc.context} started at line {cm.line + 1}, column {cm.column + 1})"
        at = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        issue = Issue((), f"YAML: {exc.problem or exc.context}{context}", None, *at)
        raise ProfileError(f"site profile {path} is not valid YAML:\n  {issue.render(str(path))}",
                           [issue]) from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"site profile {path} is not valid YAML: {exc}",
                           [Issue((), f"YAML: {exc}")]) from None


def load_profile(path: str | Path | None = None) -> SiteProfile:
    """Load and validate a YAML profile (default: the demo system's profile)."""
    path = Path(path) if path else default_profile_path()
    data, root = read_source(path)
    profile = parse_profile(data, str(path), root)
    if profile.schema_version < SCHEMA_VERSION:
        log.warning("site profile %s was written for schema version %d (current: %d); "
                    "`registro profile lint %s` shows what changed since", path,
                    profile.schema_version, SCHEMA_VERSION, path)
    return profile


# --- schema versions ----------------------------------------------------------------------

def schema_notes(data: Any) -> list[Issue]:
    """The schema changes newer than the version a profile's data declares (none: 1),
    each placed where the profile reads that field (else at its ``schema_version``)."""
    data = data if isinstance(data, dict) else {}
    version = data.get("schema_version", 1)
    if not isinstance(version, int):
        return []
    where: dict[str, tuple[str | int, ...]] = {}
    blocks = data.get("extract")
    for i, block in enumerate(blocks if isinstance(blocks, list) else []):
        fields = block.get("fields") if isinstance(block, dict) else None
        for key in fields if isinstance(fields, dict) else {}:
            where.setdefault(str(key), ("extract", i, "fields", key, KEY))
    fallback: tuple[str | int, ...] = ("schema_version",) if "schema_version" in data else ()
    return [Issue(where.get(c.field, fallback), f"schema v{c.version}: {c.field} {c.note}",
                  f"check the field, then declare `schema_version: {SCHEMA_VERSION}`")
            for c in changes_since(version)]
