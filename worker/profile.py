"""Site profiles: the declarative description of one legacy site (YAML).

A profile says where the site is, how to log in, how to search an OS, how to
recognise the outcomes (logged in, wrong credentials, not found, HTTP error page,
session expired) and, for every field of ``registro.schemas.ScrapedOS``, where to
read it and how to parse it. The format is documented in ``worker/README.md``.

Locators are CSS selectors, or XPath when prefixed with ``xpath:``.
Templates (``{username}``, ``{password}``, ``{numero_os}``) are filled at run time;
credentials always come from the settings (environment), never from the profile.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import string
import types
import typing
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from registro.schemas import ALL_FIELDS, SCHEMA_VERSION, SECTIONS, changes_since
from registro.worker import parsers, yaml_source
from registro.worker.yaml_source import KEY

log = logging.getLogger(__name__)

TEMPLATE_NAMES = frozenset({"username", "password", "numero_os"})
DEFAULT_PROFILE = "demo.yaml"


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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_template(text: str) -> str:
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None and name not in TEMPLATE_NAMES:
            raise ValueError(
                f"unknown placeholder {{{name}}}; allowed: {sorted(TEMPLATE_NAMES)}"
            )
    return text


Locator = Annotated[str, Field(min_length=1, description="CSS, or XPath after 'xpath:'")]
StrList = list[str]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Condition(_Strict):
    """What must be true on the current page. Several keys: all must hold;
    ``any``: at least one of the sub-conditions."""

    present: Locator | None = None
    visible: Locator | None = None
    text: Locator | None = Field(None, description="element exists with non-empty text")
    text_contains: str | None = Field(None, description="page text contains (case-insensitive)")
    title_contains: str | None = None
    url_contains: str | None = None
    js: str | None = Field(None, description="JavaScript function body returning truthy")
    any: list[Condition] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not self.model_dump(exclude_none=True):
            raise ValueError("a condition needs at least one key")
        return self


STEP_ACTIONS = ("goto", "click", "type", "submit", "wait", "frame", "js")


class Step(_Strict):
    """One browser action. Exactly one action key per step."""

    goto: str | None = Field(None, description="URL, absolute or relative to base_url")
    click: Locator | None = None
    type: Locator | None = Field(None, description="input to clear and fill with `text`")
    text: str | None = None
    enter: bool = Field(False, description="press Enter after typing")
    submit: Locator | None = Field(None, description="a form (or element inside one) to submit")
    wait: Condition | None = None
    frame: Locator | None = Field(
        None, description="switch into this frame; 'top' = page. In page: the following "
        "in-page steps of the same run act inside the frame (same-origin frames only)",
    )
    js: str | None = Field(None, description="JavaScript to run")
    optional: bool = Field(False, description="skip silently if the element is absent")
    in_page: bool = Field(
        False, description="perform it with JavaScript inside the page: consecutive in-page "
        "steps cost one WebDriver round trip, but send no real mouse/keyboard events",
    )

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = [a for a in STEP_ACTIONS if getattr(self, a) is not None]
        if len(actions) != 1:
            raise ValueError(f"a step needs exactly one of {list(STEP_ACTIONS)}, got {actions}")
        if (self.type is None) != (self.text is None):
            raise ValueError("`type` and `text` go together")
        if self.in_page and self.action == "goto":
            raise ValueError("a `goto` step cannot be in_page")
        for t in (self.goto, self.text):
            if t is not None:
                _check_template(t)
        return self

    @property
    def action(self) -> str:
        return next(a for a in STEP_ACTIONS if getattr(self, a) is not None)


ParserSpec = str | dict[str, Any]


def _valid_parser(spec: ParserSpec) -> ParserSpec:
    _parser_from_spec(spec)  # fail at load time on an unknown parser
    return spec


def _known_field(key: str) -> str:
    if key not in ALL_FIELDS:
        raise ValueError(f"unknown field {key!r}; fields are 'section.name', e.g. "
                         "'cliente.cnpj' (see registro/schemas.py)")
    return key


FieldKey = Annotated[str, AfterValidator(_known_field)]


class FieldSpec(_Strict):
    """Where one field is and how to parse it. Exactly one of css/xpath/label/value.
    A list of locators reads several elements and joins their texts (split values)."""

    css: StrList | None = None
    xpath: StrList | None = None
    label: StrList | None = Field(None, description="text of the label cell next to the value")
    value: str | None = Field(None, description="a constant/template, e.g. '{numero_os}'")
    below: bool = Field(False, description="label: the value is in the cell below, not beside")
    scope: Locator | None = Field(None, description="CSS of the container to search within")
    all: bool = Field(False, description="read every match of each locator, not only the first")
    attr: str | None = Field(None, description="read this attribute/property instead of text")
    join: str = " "
    parse: list[Annotated[ParserSpec, AfterValidator(_valid_parser)]] | None = Field(
        None, description="default: from the field's type")
    optional: bool = Field(False, description="element may be absent (value None)")

    normalise_lists = field_validator("css", "xpath", "label", mode="before")(_as_list)

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        sources = [s for s in ("css", "xpath", "label", "value") if getattr(self, s) is not None]
        if len(sources) != 1:
            raise ValueError(f"a field needs exactly one of css/xpath/label/value, got {sources}")
        if any(not loc for loc in (self.css or self.xpath or self.label or [])):
            raise ValueError("empty locator")
        if self.value is not None:
            _check_template(self.value)
        return self

    @property
    def kind(self) -> str:
        return next(s for s in ("css", "xpath", "label", "value") if getattr(self, s) is not None)


class Block(_Strict):
    """A part of the OS page read in one go: optional steps to reveal it (tab clicks,
    "show more"), an optional frame path, a wait, then all its fields in one script."""

    name: str
    before: list[Step] = []
    frames: StrList = Field([], description="frame locators from the top page, outermost first")
    wait: Condition | None = None
    fields: dict[FieldKey, FieldSpec]

    normalise_frames = field_validator("frames", mode="before")(_as_list)


class Login(_Strict):
    url: str | None = Field(None, description="login page; default: base_url")
    steps: list[Step]
    success: Condition
    failure: Condition | None = None


class Search(_Strict):
    url: str | None = Field(None, description="search page opened before the steps")
    steps: list[Step]
    success: Condition = Field(description="the OS page has loaded")
    not_found: Condition


class SiteProfile(_Strict):
    name: str
    schema_version: int = Field(
        1, description="the version of registro/schemas.py the profile was written for "
        "(SCHEMA_CHANGES); none: 1, the oldest")
    base_url: str = Field(description="overridden by REGISTRO_LEGACY_URL")
    empty_markers: list[str] = list(parsers.DEFAULT_EMPTY_MARKERS)
    login: Login
    search: Search
    logged_out: Condition = Field(description="the page shows the login form: session expired")
    error_page: Condition | None = Field(None, description="an HTTP 5xx error page")
    extract: list[Block]

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if not 1 <= v <= SCHEMA_VERSION:
            raise ValueError(f"this Registro knows schema versions 1 to {SCHEMA_VERSION}")
        return v

    def field_specs(self) -> dict[str, FieldSpec]:
        return {k: spec for block in self.extract for k, spec in block.fields.items()}


def field_type(key: str) -> Any:
    """The Python type of a schema field (``str``, ``int``, ``Decimal``, ``date``)."""
    section, name = key.split(".")
    ann = SECTIONS[section].model_fields[name].annotation
    if isinstance(ann, types.UnionType) or typing.get_origin(ann) is typing.Union:
        ann = next(a for a in typing.get_args(ann) if a is not type(None))
    return ann


REQUIRED_FIELDS = tuple(
    f"{section}.{name}" for section, model in SECTIONS.items()
    for name, info in model.model_fields.items() if info.is_required()
)

_DEFAULT_PARSER = {dt.date: "date", Decimal: "decimal", int: "int", str: "text"}


def _parser_from_spec(spec: ParserSpec):
    if isinstance(spec, str):
        try:
            return parsers.SIMPLE_PARSERS[spec]
        except KeyError:
            raise ValueError(
                f"unknown parser {spec!r}; known: {sorted(parsers.SIMPLE_PARSERS)}, "
                "{regex: ...}, {map: {...}}"
            ) from None
    if isinstance(spec, dict) and len(spec) == 1:
        (name, arg), = spec.items()
        if name == "regex" and isinstance(arg, str):
            try:
                return parsers.regex_parser(arg)
            except re.error as exc:
                raise ValueError(f"bad regex {arg!r}: {exc}") from None
        if name == "map" and isinstance(arg, dict):
            return parsers.map_parser({str(k): v for k, v in arg.items()})
    raise ValueError(f"bad parser {spec!r}")


def _own_parser(key: str) -> str | None:
    """The field's own parser (``json_schema_extra={"parser": ...}`` in the schema)."""
    section, name = key.split(".")
    extra = SECTIONS[section].model_fields[name].json_schema_extra
    return str(extra["parser"]) if isinstance(extra, dict) and isinstance(
        extra.get("parser"), str) else None


def default_parser(key: str) -> str:
    """The field's own parser, or the one for its type."""
    return _own_parser(key) or _DEFAULT_PARSER.get(field_type(key), "text")


def parser_chain(key: str, spec: FieldSpec) -> list:
    """The parsers for a field: the profile's, or the field's default."""
    names = spec.parse if spec.parse is not None else [default_parser(key)]
    return [_parser_from_spec(p) for p in names]


def default_profile_path() -> Path:
    return Path(str(resources.files("registro.worker") / "profiles" / DEFAULT_PROFILE))


# --- what a parser chain yields -----------------------------------------------------------

_TYPE_NAMES = {str: "text", int: "int", Decimal: "decimal", dt.date: "date"}
# (value type, field type) pairs that convert without loss; record.py converts them
LOSSLESS = frozenset({(int, str)})


def _type_name(t: Any) -> str:
    return _TYPE_NAMES.get(t) or str(getattr(t, "__name__", t))


def chain_output(parse: list[ParserSpec]) -> tuple[type | None, frozenset[type]]:
    """What a chain yields: the type of its last typed parser (the page's text when there
    is none; ``None``: anything) and the types of ``map`` values after it (YAML reads
    ``{map: {A: 1}}`` as a number)."""
    out: type | None = str
    mapped: set[type] = set()
    for spec in parse:
        if isinstance(spec, dict) and "map" in spec:
            mapped |= {type(v) for v in spec["map"].values() if v is not None}
        else:
            out, mapped = parsers.output_type(_parser_from_spec(spec)), set()
    return out, frozenset(mapped)


def _fits(value_type: type | None, want: Any, lossless: bool) -> bool:
    return (value_type is None or value_type is want
            or (value_type in (int, float) and want is Decimal)
            or (lossless and (value_type, want) in LOSSLESS))


def _render_chain(parse: list[ParserSpec]) -> str:
    return yaml.safe_dump(parse, default_flow_style=True, allow_unicode=True,
                          width=1 << 16).strip()


def chain_issue(key: str, spec: FieldSpec) -> tuple[str, str] | None:
    """``(message, fix)`` when a field's parser chain does not yield the field's type.

    The chain's own result must be of the field's type (an ``int`` into a text field is
    refused: ``int`` drops what is not the number, such as leading zeros or a plate's
    second voltage); ``map`` values may also be of a type that converts without loss."""
    if spec.parse is None:  # the field's default chain
        return None
    want = field_type(key)
    out, mapped = chain_output(spec.parse)
    if _fits(out, want, lossless=False):
        bad = sorted(_type_name(t) for t in mapped if not _fits(t, want, lossless=True))
        if not bad:
            return None
        message = f"the `map` gives {'/'.join(bad)} values, but {key} is {_type_name(want)}"
    else:
        message = f"the parser chain yields {_type_name(out)}, but {key} is {_type_name(want)}"
    own = _own_parser(key)
    if own is not None:
        return message, f"parse: [{own}] (or no `parse`: `{own}` is the field's default)"
    last = spec.parse[-1]
    typed = isinstance(last, str) and parsers.output_type(_parser_from_spec(last)) is not str
    chain = [*spec.parse[:-1], default_parser(key)] if typed else [*spec.parse,
                                                                    default_parser(key)]
    return message, f"parse: {_render_chain(chain)}"


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
