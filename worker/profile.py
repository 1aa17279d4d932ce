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
import re
import string
import types
import typing
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from registro.schemas import ALL_FIELDS, SECTIONS
from registro.worker import parsers

TEMPLATE_NAMES = frozenset({"username", "password", "numero_os"})
DEFAULT_PROFILE = "demo.yaml"


class ProfileError(ValueError):
    """The profile file is missing, not YAML, or does not validate."""


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
    parse: list[ParserSpec] | None = Field(None, description="default: from the field's type")
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
        for p in self.parse or []:
            _parser_from_spec(p)  # fail at load time on an unknown parser
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
    fields: dict[str, FieldSpec]

    normalise_frames = field_validator("frames", mode="before")(_as_list)

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, v: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        unknown = sorted(set(v) - set(ALL_FIELDS))
        if unknown:
            raise ValueError(f"unknown fields {unknown}; fields are 'section.name', e.g. "
                             "'cliente.cnpj' (see registro/schemas.py)")
        return v


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
    base_url: str = Field(description="overridden by REGISTRO_LEGACY_URL")
    empty_markers: list[str] = list(parsers.DEFAULT_EMPTY_MARKERS)
    login: Login
    search: Search
    logged_out: Condition = Field(description="the page shows the login form: session expired")
    error_page: Condition | None = Field(None, description="an HTTP 5xx error page")
    extract: list[Block]

    @model_validator(mode="after")
    def _fields_once_and_required_present(self) -> SiteProfile:
        seen: dict[str, str] = {}
        for block in self.extract:
            for key in block.fields:
                if key in seen:
                    raise ValueError(f"field {key} appears in blocks {seen[key]!r} and "
                                     f"{block.name!r}")
                seen[key] = block.name
        missing = sorted(k for k in REQUIRED_FIELDS if k not in seen)
        if missing:
            raise ValueError(f"required fields missing from extract: {missing}")
        return self

    def field_specs(self) -> dict[str, FieldSpec]:
        return {k: spec for block in self.extract for k, spec in block.fields.items()}


def _field_type(key: str) -> Any:
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


def default_parser(key: str) -> str:
    """The field's own parser (``json_schema_extra={"parser": ...}`` in the schema), or
    the one for its type."""
    section, name = key.split(".")
    extra = SECTIONS[section].model_fields[name].json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("parser"), str):
        return str(extra["parser"])
    return _DEFAULT_PARSER.get(_field_type(key), "text")


def parser_chain(key: str, spec: FieldSpec) -> list:
    """The parsers for a field: the profile's, or the field's default."""
    names = spec.parse if spec.parse is not None else [default_parser(key)]
    return [_parser_from_spec(p) for p in names]


def default_profile_path() -> Path:
    return Path(str(resources.files("registro.worker") / "profiles" / DEFAULT_PROFILE))


def parse_profile(data: Any, source: str = "<profile>") -> SiteProfile:
    try:
        return SiteProfile.model_validate(data)
    except ValidationError as exc:
        lines = [f"invalid site profile {source}:"]
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            lines.append(f"  {where}: {err['msg']}")
        raise ProfileError("\n".join(lines)) from None


def load_profile(path: str | Path | None = None) -> SiteProfile:
    """Load and validate a YAML profile (default: the demo system's profile)."""
    path = Path(path) if path else default_profile_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"site profile not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"site profile {path} is not valid YAML: {exc}") from None
    return parse_profile(data, str(path))

