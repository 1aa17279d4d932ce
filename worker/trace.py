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

from registro.worker.page import short


@dataclass(frozen=True)
class StepTime:
    step: str
    seconds: float
    ok: bool
    started_s: float = 0.0  # since the trace began
    detail: str = ""  # the error that ended a failed step


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
    began: float = field(default_factory=time.perf_counter)
    began_wall: float = field(default_factory=time.time)  # tells this scrape's console lines

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start, ok, detail = time.perf_counter(), False, ""
        try:
            yield
            ok = True
        except BaseException as exc:
            kind, text = type(exc).__name__, short(exc)
            detail = text if text == kind else f"{kind}: {text}"
            raise
        finally:
            self.steps.append(StepTime(name, time.perf_counter() - start, ok,
                                       start - self.began, detail))

    def step_log(self) -> list[dict[str, Any]]:
        """The steps as a failure's evidence bundle keeps them (Portuguese keys, like the
        API's answers that serve them)."""
        entries = []
        for s in self.steps:
            entry: dict[str, Any] = {"passo": s.step, "inicio_ms": round(s.started_s * 1000),
                                     "duracao_ms": round(s.seconds * 1000),
                                     "resultado": "ok" if s.ok else "falhou"}
            if s.detail:
                entry["detalhe"] = s.detail
            entries.append(entry)
        return entries
