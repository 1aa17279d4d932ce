"""Each schema field's type and parser chain: the field's default chain, a profile's
chain built from its specs, and whether a chain yields the field's type
(``chain_issue``, which ``registro profile lint`` reports)."""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import yaml

from registro.schemas import SECTIONS
from registro.worker import parsers

if TYPE_CHECKING:
    from registro.worker.profile_model import FieldSpec

ParserSpec = str | dict[str, Any]


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


def parser_from_spec(spec: ParserSpec):
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


def own_parser(key: str) -> str | None:
    """The field's own parser (``json_schema_extra={"parser": ...}`` in the schema)."""
    section, name = key.split(".")
    extra = SECTIONS[section].model_fields[name].json_schema_extra
    return str(extra["parser"]) if isinstance(extra, dict) and isinstance(
        extra.get("parser"), str) else None


def default_parser(key: str) -> str:
    """The field's own parser, or the one for its type."""
    return own_parser(key) or _DEFAULT_PARSER.get(field_type(key), "text")


def parser_chain(key: str, spec: FieldSpec) -> list:
    """The parsers for a field: the profile's, or the field's default."""
    names = spec.parse if spec.parse is not None else [default_parser(key)]
    return [parser_from_spec(p) for p in names]


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
            out, mapped = parsers.output_type(parser_from_spec(spec)), set()
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
    own = own_parser(key)
    if own is not None:
        return message, f"parse: [{own}] (or no `parse`: `{own}` is the field's default)"
    last = spec.parse[-1]
    typed = isinstance(last, str) and parsers.output_type(parser_from_spec(last)) is not str
    chain = [*spec.parse[:-1], default_parser(key)] if typed else [*spec.parse,
                                                                    default_parser(key)]
    return message, f"parse: {_render_chain(chain)}"
