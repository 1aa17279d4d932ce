"""The JavaScript the engine runs in the page, loaded from ``worker/js/*.js`` (package data).

Reading 45 fields one WebDriver call at a time costs ~0.5 s; one script reading them
all costs ~0.09 s (see the shared notes). So each wait polls *inside* the page (no
round trip per poll, no poll-interval lag) and, for a block of fields, extracts them
all in the same script as soon as the block's condition holds. Same-origin frames are
entered through ``contentDocument`` (no frame switching round trips); a cross-origin
frame is reported back so the engine can switch into it instead.

The outcome names the scripts return are not written in the JavaScript: each script
starts with ``const OUTCOME = {...}`` generated from ``registro.worker.outcome.Outcome``.
"""

from __future__ import annotations

import json
from importlib import resources

from registro.worker.outcome import Outcome


def _source(name: str) -> str:
    return (resources.files("registro.worker") / "js" / name).read_text(encoding="utf-8")


def _script(*names: str) -> str:
    outcomes = json.dumps({o.name: o.value for o in Outcome})
    return "\n".join([f"const OUTCOME = {outcomes};", *(_source(n) for n in names)])


# Synchronous: the first named condition holding on the top document (see check.js).
CHECK_CONDITIONS = _script("helpers.js", "check.js")
# Asynchronous: in-page operations, waits and the reading of fields (see run.js).
RUN = _script("helpers.js", "extract.js", "run.js")
