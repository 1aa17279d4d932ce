"""From the texts read on the page to a validated ``ScrapedOS``: each field's parser
chain (from the profile, or the default for its type), then the schema.

A required field of the schema (``profile.REQUIRED_FIELDS``) that comes back empty (its
element absent under ``optional``, or showing an empty marker) means the profile no
longer matches the page: ``profile_mismatch``, raised before anything is saved, so the
stored record keeps its last good read."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from registro.errors import PermanentScrapeError, Reason
from registro.schemas import SECTIONS, ScrapedOS
from registro.worker import parsers
from registro.worker.profile import (
    LOSSLESS,
    REQUIRED_FIELDS,
    SiteProfile,
    field_type,
    parser_chain,
)
from registro.worker.trace import Trace


def lossless(value: Any, want: Any) -> Any:
    """A value the schema would refuse that converts without loss (``LOSSLESS``), e.g.
    the int 380 from a ``map`` for a text field, converted; anything else as it is."""
    return want(value) if (type(value), want) in LOSSLESS else value


class RecordBuilder:
    def __init__(self, profile: SiteProfile):
        self.empty_markers = tuple(profile.empty_markers)
        specs = profile.field_specs()
        self.chains = {k: parser_chain(k, spec) for k, spec in specs.items()}
        self.types = {k: field_type(k) for k in specs}

    def value(self, key: str, text: str | None) -> Any:
        """One field's value from its text; raises the parser's error."""
        return lossless(parsers.run_chain(text, self.chains[key], self.empty_markers),
                        self.types[key])

    def build(self, raw: dict[str, str | None], numero_os: str,
              trace: Trace | None = None) -> ScrapedOS:
        trace = trace if trace is not None else Trace()
        data: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
        for key, text in raw.items():
            section, name = key.split(".")
            try:
                value = self.value(key, text)
            except (parsers.ParseError, ValueError, TypeError) as exc:
                trace.problems[key] = str(exc)
                continue
            data[section][name] = trace.values[key] = value
        if trace.problems:
            raise self._invalid(numero_os, trace.problems)
        empty = [k for k in REQUIRED_FIELDS
                 if data[k.split(".")[0]].get(k.split(".")[1]) is None]
        if empty:
            raise PermanentScrapeError(
                Reason.PROFILE_MISMATCH,
                f"OS {numero_os}: required field(s) {', '.join(empty)} came back empty; "
                "the page no longer matches the profile")
        try:
            scraped = ScrapedOS.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                key = ".".join(str(p) for p in err["loc"][:2])
                trace.problems[key] = "; ".join(filter(None, (trace.problems.get(key),
                                                               err["msg"])))
            raise self._invalid(numero_os, trace.problems) from None
        # the values as the record keeps them (a number with its column's decimals)
        trace.values.update((k, v) for k, v in scraped.flat().items() if k in trace.values)
        return scraped

    @staticmethod
    def _invalid(numero_os: str, problems: dict[str, str]) -> PermanentScrapeError:
        return PermanentScrapeError(
            Reason.INVALID_DATA,
            f"OS {numero_os}: " + "; ".join(f"{k}: {m}" for k, m in problems.items()))
