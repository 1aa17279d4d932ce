"""The evidence use cases behind GET /api/desenvolvimento/evidencias/{evidencia_id}[/part].

No HTTP here (see ``api/lookup.py``): the bundle's description, or one of its parts,
read from the database (``registro.evidence_store``); ``UnknownEvidence`` when there is none.
"""

from __future__ import annotations

from registro import evidence_store
from registro.api.errors import UnknownEvidence
from registro.api.schemas import Evidencia

EVIDENCE_PATH = "/api/desenvolvimento/evidencias/{evidencia_id}"


def describe(database_url: str, evidencia_id: str) -> Evidencia:
    meta = evidence_store.read_metadata(database_url, evidencia_id)
    if meta is None:
        raise UnknownEvidence(evidencia_id)
    base = EVIDENCE_PATH.format(evidencia_id=evidencia_id)
    for part in meta["partes"]:
        part["caminho"] = f"{base}/{part['nome']}"
    return Evidencia.model_validate(meta)


def part(database_url: str, evidencia_id: str, name: str) -> bytes:
    """``screenshot.png`` (PNG) or ``page.html`` (UTF-8)."""
    exists, data = evidence_store.read_part(database_url, evidencia_id, name)
    if data is None:
        raise UnknownEvidence(evidencia_id, name if exists else None)
    return data
