"""What one scrape did, step by step and field by field (``registro profile check``).

``Scraper.scrape(numero_os, trace=Trace())`` fills it: the time of each flow step, what
the page gave for each field (which locators matched, which did not, the text) and what
the parsers made of it (the value, or the parser's or the schema's message). A failed
scrape leaves the trace filled up to the failure, plus the URL and title of the page.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StepTime:
    step: str
    seconds: float
    ok: bool


@dataclass(frozen=True)
class FieldRead:
    """The page's answer for one field: ``found`` when every locator matched."""

    found: bool
    text: str
    matched: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


@dataclass
class Trace:
    steps: list[StepTime] = field(default_factory=list)
    read: dict[str, FieldRead] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)  # parsed, before the schema
    problems: dict[str, str] = field(default_factory=dict)  # parser or schema message
    page: dict[str, str] = field(default_factory=dict)  # url and title at a failure

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start, ok = time.perf_counter(), False
        try:
            yield
            ok = True
        finally:
            self.steps.append(StepTime(name, time.perf_counter() - start, ok))
