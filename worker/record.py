"""From the texts read on the page to a validated ``ScrapedOS``: each field's parser
chain (from the profile, or the default for its type), then the schema."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from registro.errors import PermanentScrapeError, Reason
from registro.schemas import SECTIONS, ScrapedOS
from registro.worker import parsers
from registro.worker.profile import SiteProfile, parser_chain


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
        try:
            return ScrapedOS.model_validate(data)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                               for e in exc.errors())
            raise PermanentScrapeError(Reason.INVALID_DATA, f"OS {numero_os}: {detail}") from None
