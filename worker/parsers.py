"""Value normalisers: turn the text a legacy page shows into clean typed values.

A site profile names a chain of parsers per field (``parse: [digits]``,
``parse: [{regex: 'Nº (\\d+)'}, int]``). Each parser takes the previous value and
returns the next one; ``None`` (an empty marker such as "—") short-circuits the chain.
"""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
import unicodedata
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

# Texts that mean "no value" on legacy pages.
DEFAULT_EMPTY_MARKERS: tuple[str, ...] = ("", "-", "—", "–", "--", "N/A", "n/a", "null", "None")

_SPACES = re.compile(r"\s+")
_NUMBER = re.compile(r"^[+-]?[\d.,]+$")


class ParseError(ValueError):
    """A value that does not fit its parser (the page or the profile changed)."""


def clean_text(value: str) -> str:
    """Collapse whitespace (incl. non-breaking spaces) and strip."""
    return _SPACES.sub(" ", value.replace("\xa0", " ")).strip()


def is_empty(value: Any, markers: tuple[str, ...] = DEFAULT_EMPTY_MARKERS) -> bool:
    return value is None or (isinstance(value, str) and clean_text(value) in markers)


def parse_text(value: str) -> str:
    return clean_text(str(value))


def parse_digits(value: str) -> str:
    digits = re.sub(r"\D", "", str(value))
    if not digits:
        raise ParseError(f"no digits in {value!r}")
    return digits


# A unit after a number ("7,5 cv", "220 V", "1.750 rpm", "90 dias", "12 %") is ignored.
_UNIT = re.compile(r"(?<=\d)\s*[^\W\d_][^\W\d_./]*\.?$|(?<=\d)\s*%$")


def _strip_unit(text: str) -> str:
    return _UNIT.sub("", clean_text(text))


def _to_decimal(text: str) -> Decimal:
    """Brazilian and plain decimal notations: '1.234,56', '1234,56', '1234.56', '7,5 cv'."""
    s = _strip_unit(text).replace(" ", "")
    if not _NUMBER.match(s):
        raise ParseError(f"not a number: {text!r}")
    if "," in s:  # Brazilian: dots group thousands, comma separates decimals
        s = s.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+", s):
        s = s.replace(".", "")  # '1.234' / '1.234.567': Brazilian grouping, no decimals
    try:
        return Decimal(s)
    except InvalidOperation as exc:  # the regex above should make this unreachable
        raise ParseError(f"not a number: {text!r}") from exc


def parse_decimal(value: str) -> Decimal:
    """'1.234,56' -> Decimal('1234.56'); '7,5 cv' -> Decimal('7.5')."""
    return _to_decimal(str(value))


def parse_money(value: str) -> Decimal:
    """'R$ 1.234,56' -> Decimal('1234.56'); also '-R$ 10,00' and 'R$ -10,00'."""
    s = clean_text(str(value))
    negative = s.startswith("-")
    s = re.sub(r"^-?\s*R\$\s*", "", s, flags=re.IGNORECASE)
    amount = _to_decimal(s)
    return -amount if negative else amount


def parse_int(value: str) -> int:
    """'1.750 rpm' -> 1750, '220 V' -> 220; refuses fractions ('7,5')."""
    s = _strip_unit(str(value)).replace(" ", "")
    if not re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+|[+-]?\d+", s):
        raise ParseError(f"not an integer: {value!r}")
    return int(s.replace(".", ""))


def parse_voltages(value: str) -> str:
    """A plate's voltages, in volts, as the plate lists them: '220/380 V' -> '220/380',
    '220V / 380V' -> '220/380', '380 V' -> '380'; refuses anything else."""
    s = re.sub(r"\s+", "", str(value)).upper()
    parts = [p.removesuffix("V") for p in s.removesuffix("VOLTS").split("/")]
    if not parts or not all(re.fullmatch(r"\d{1,6}", p) for p in parts):
        raise ParseError(f"not a voltage or voltages like '220/380 V': {value!r}")
    return "/".join(str(int(p)) for p in parts)


def parse_date(value: str) -> dt.date:
    """dd/mm/aaaa (also dd-mm-aaaa, dd.mm.aaaa, optionally followed by a time) or ISO."""
    s = clean_text(str(value))
    m = re.match(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:\s|$|T)", s)
    try:
        if m:
            day, month, year = (int(g) for g in m.groups())
            return dt.date(year, month, day)
        m = re.match(r"^(\d{4})-(\d{2})-(\d{2})", s)
        if m:
            return dt.date(*(int(g) for g in m.groups()))
    except ValueError as exc:
        raise ParseError(f"invalid date: {value!r}") from exc
    raise ParseError(f"not a date (dd/mm/aaaa): {value!r}")


def parse_upper(value: str) -> str:
    return str(value).upper()


def parse_lower(value: str) -> str:
    return str(value).lower()


def parse_strip(value: str) -> str:
    return str(value).strip()


def parse_ascii(value: str) -> str:
    """Drop accents: 'São Paulo' -> 'Sao Paulo'."""
    return unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()


SIMPLE_PARSERS: dict[str, Callable[[Any], Any]] = {
    "text": parse_text,
    "strip": parse_strip,
    "upper": parse_upper,
    "lower": parse_lower,
    "ascii": parse_ascii,
    "digits": parse_digits,
    "int": parse_int,
    "decimal": parse_decimal,
    "money": parse_money,
    "date": parse_date,
    "voltages": parse_voltages,
}


def regex_parser(pattern: str) -> Callable[[Any], Any]:
    """Keep the first group (or the whole match); no match means no value."""
    compiled = re.compile(pattern)

    def parse(value: Any) -> str | None:
        m = compiled.search(str(value))
        if m is None:
            return None
        return m.group(1) if compiled.groups else m.group(0)

    return parse


def map_parser(mapping: dict[str, Any]) -> Callable[[Any], Any]:
    """Translate codes ('A' -> 'Aberta'); unknown values pass through unchanged."""

    def parse(value: Any) -> Any:
        return mapping.get(str(value), value)

    return parse


def output_type(parser: Callable[[Any], Any]) -> type | None:
    """What a parser yields, read from its return annotation (``None``: anything)."""
    ret = typing.get_type_hints(parser).get("return")
    if isinstance(ret, types.UnionType) or typing.get_origin(ret) is typing.Union:
        kinds = [a for a in typing.get_args(ret) if a is not type(None)]
        ret = kinds[0] if len(kinds) == 1 else None
    return ret if isinstance(ret, type) and ret is not Any else None


def run_chain(
    raw: Any, chain: list[Callable[[Any], Any]],
    empty_markers: tuple[str, ...] = DEFAULT_EMPTY_MARKERS,
) -> Any:
    """Apply parsers in order; an empty marker (before or between steps) gives ``None``."""
    value = raw
    if isinstance(value, str):
        value = clean_text(value)
    for step in chain:
        if is_empty(value, empty_markers):
            return None
        value = step(value)
    return None if is_empty(value, empty_markers) else value
