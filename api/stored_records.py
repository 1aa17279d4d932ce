"""The ``found_existing`` answer of a stored OS, built once per version of its rows.

Building the answer from the database costs three ORM loads, two pydantic validations
and the JSON encoding of 48 fields. Every call still asks the database, but only for
the version of the rows (one indexed join returning ids and ``updated_at``); the
encoded answer is reused while that version is unchanged.

Why this never serves a stale or deleted record:

- the version is read on every call, from the database, before answering: a deleted
  OS row reads as "not stored" (and its entry is dropped);
- every save of a scrape goes through ``registro.records.save_scraped``, whose upsert
  sets ``updated_at`` on the OS, its cliente and its equipamento (ids change if a row
  is deleted and inserted again): a newer scrape always gives a new version;
- an answer is tagged with the version of the very rows it was built from, never with
  the version read before building, so a save that lands in between only costs a
  rebuild on the next call.

Rows edited by hand in SQL without touching ``updated_at`` are not seen (see
api/README.md).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from registro.api.schemas import BuscarOSFoundExisting
from registro.db import get_engine, session_factory
from registro.models import Cliente, Equipamento, OrdemServico
from registro.records import find_os, public_data, to_scraped

Version = tuple

_VERSION_QUERY = (
    select(OrdemServico.id, OrdemServico.updated_at, Cliente.id, Cliente.updated_at,
           Equipamento.id, Equipamento.updated_at)
    .join(Cliente, Cliente.id == OrdemServico.cliente_id)
    .join(Equipamento, Equipamento.id == OrdemServico.equipamento_id)
)


def _row_version(row: OrdemServico) -> Version:
    return (row.id, row.updated_at, row.cliente.id, row.cliente.updated_at,
            row.equipamento.id, row.equipamento.updated_at)


def found_existing_json(row: OrdemServico) -> bytes:
    answer = BuscarOSFoundExisting(message=f"OS {row.numero_os} já existe no sistema",
                           data=public_data(to_scraped(row)))
    return json.dumps(answer.model_dump(mode="json"), ensure_ascii=False,
                      separators=(",", ":")).encode()


class StoredRecords:
    """Per-process, bounded (LRU) map numero_os -> (version, encoded answer)."""

    def __init__(self, database_url: str, max_entries: int) -> None:
        self.database_url = database_url
        self.max_entries = max_entries
        self._answers: OrderedDict[str, tuple[Version, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.builds = 0  # answers built from the rows (for tests and the benchmark)

    def current_version(self, numero_os: str) -> Version | None:
        with get_engine(self.database_url).connect() as conn:
            row = conn.execute(_VERSION_QUERY.where(OrdemServico.numero_os == numero_os)
                               ).first()
        return tuple(row) if row is not None else None

    def found_existing(self, numero_os: str) -> bytes | None:
        """The encoded ``found_existing`` answer, or None if the OS is not stored."""
        version = self.current_version(numero_os)
        if version is None:
            with self._lock:
                self._answers.pop(numero_os, None)
            return None
        with self._lock:
            cached = self._answers.get(numero_os)
            if cached is not None and cached[0] == version:
                self._answers.move_to_end(numero_os)
                return cached[1]
        return self._build(numero_os)

    def _build(self, numero_os: str) -> bytes | None:
        session: Session = session_factory(self.database_url)()
        try:
            row = find_os(session, numero_os)
            if row is None:
                return None
            answer = found_existing_json(row)
            version = _row_version(row)
        finally:
            session.close()
        with self._lock:
            self.builds += 1
            if self.max_entries > 0:
                self._answers[numero_os] = (version, answer)
                self._answers.move_to_end(numero_os)
                while len(self._answers) > self.max_entries:
                    self._answers.popitem(last=False)
        return answer
