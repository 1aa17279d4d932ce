"""The site profile's format: pydantic models of a profile (``SiteProfile`` and its
parts), as ``registro.worker.profile`` loads and validates them from YAML.

Locators are CSS selectors, or XPath when prefixed with ``xpath:``.
Templates (``{username}``, ``{password}``, ``{numero_os}``) are filled at run time;
credentials always come from the settings (environment), never from the profile.
"""

from __future__ import annotations

import string
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from registro.schemas import ALL_FIELDS, SCHEMA_VERSION
from registro.worker import parsers
from registro.worker.field_parsers import ParserSpec, parser_from_spec

TEMPLATE_NAMES = frozenset({"username", "password", "numero_os"})


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


def _valid_parser(spec: ParserSpec) -> ParserSpec:
    parser_from_spec(spec)  # fail at load time on an unknown parser
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
