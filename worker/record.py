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
from registro.worker.profile import REQUIRED_FIELDS, SiteProfile, parser_chain


class RecordBuilder:
    def __init__(self, profile: SiteProfile):
        self.empty_markers = tuple(profile.empty_markers)
        self.chains = {k: parser_chain(k, spec) for k, spec in profile.field_specs().items()}

    def build(self, raw: dict[str, str | None], numero_os: str) -> ScrapedOS:
        data: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
        problems = []
        for key, text in raw.items():
            section, name = key.split(".")
            try:
                data[section][name] = parsers.run_chain(text, self.chains[key],
                                                        self.empty_markers)
            except (parsers.ParseError, ValueError, TypeError) as exc:
                problems.append(f"{key}: {exc}")
        if problems:
            raise PermanentScrapeError(Reason.INVALID_DATA,
                                       f"OS {numero_os}: " + "; ".join(problems))
        empty = [k for k in REQUIRED_FIELDS
                 if data[k.split(".")[0]].get(k.split(".")[1]) is None]
        if empty:
            raise PermanentScrapeError(
                Reason.PROFILE_MISMATCH,
                f"OS {numero_os}: required field(s) {', '.join(empty)} came back empty; "
                "the page no longer matches the profile")
        try:
            return ScrapedOS.model_validate(data)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                               for e in exc.errors())
            raise PermanentScrapeError(Reason.INVALID_DATA, f"OS {numero_os}: {detail}") from None
