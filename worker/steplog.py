"""The step log of one scrape: each flow step (browser, login, search, each extraction
block, build) with when it started, how long it took and how it ended.

The scraper keeps one per scrape (``Scraper.step_log``); a failure's evidence bundle carries
it, so an operator sees where the time went and which step failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from registro.worker.page import short


class StepLog:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.started_wall = time.time()  # to tell this scrape's console entries apart
        self.entries: list[dict[str, Any]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        begin = time.monotonic()
        entry: dict[str, Any] = {"passo": name,
                                 "inicio_ms": round((begin - self.started) * 1000),
                                 "duracao_ms": 0, "resultado": "ok"}
        self.entries.append(entry)
        try:
            yield
        except BaseException as exc:
            entry["resultado"] = "falhou"
            name, text = type(exc).__name__, short(exc)
            entry["detalhe"] = text if text == name else f"{name}: {text}"
            raise
        finally:
            entry["duracao_ms"] = round((time.monotonic() - begin) * 1000)
