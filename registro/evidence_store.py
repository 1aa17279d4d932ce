"""Where failure evidence bundles (``registro.evidence``) are kept and read back: the
``evidencia`` table (``DatabaseEvidence``, ``read_metadata``, ``read_part``) or files
(``DirectoryEvidence``, ``write_files``). The why of each is in ``registro.evidence``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from registro.evidence import META, PAGE, SCREENSHOT, Bundle, metadata, pack, parts

if TYPE_CHECKING:
    from registro.settings import Settings


# --- where bundles are kept ------------------------------------------------------------------


@dataclass(frozen=True)
class Kept:
    """Where a bundle went: its id in the database, or the files written."""

    id: str | None = None
    files: list[str] = field(default_factory=list)


class EvidenceSink(Protocol):
    def known(self, numero_os: str, reason: str) -> Kept | None:
        """A bundle already kept for this OS and reason (then none is captured)."""

    def keep(self, bundle: Bundle) -> Kept: ...


def write_files(directory: Path, meta: dict[str, Any], screenshot: bytes | None,
                html: str | None) -> list[str]:
    """The bundle's parts as ``evidencia.json``, ``screenshot.png``, ``page.html``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / META]
    written[0].write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    if screenshot is not None:
        (directory / SCREENSHOT).write_bytes(screenshot)
        written.append(directory / SCREENSHOT)
    if html is not None:
        (directory / PAGE).write_text(html, encoding="utf-8")
        written.append(directory / PAGE)
    return [str(p) for p in written]


class NoEvidence:
    """Keeps nothing, so nothing is captured (a tool that was not asked for evidence)."""

    def known(self, numero_os: str, reason: str) -> Kept | None:
        return Kept()

    def keep(self, bundle: Bundle) -> Kept:
        return Kept()


class DirectoryEvidence:
    """Each bundle in ``<directory>/<UTC time>_<numero_os>_<reason>/`` (local tools), or
    in ``<directory>/<numero_os>/`` with ``per_os`` (``registro profile check``)."""

    def __init__(self, directory: Path, per_os: bool = False) -> None:
        self.directory = directory
        self.per_os = per_os

    def known(self, numero_os: str, reason: str) -> Kept | None:
        return None

    def keep(self, bundle: Bundle) -> Kept:
        stamp = bundle.created_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = bundle.numero_os if self.per_os else f"{stamp}_{bundle.numero_os}_{bundle.reason}"
        name = re.sub(r"[^0-9A-Za-z_-]", "_", name)
        return Kept(files=write_files(self.directory / name, metadata(bundle),
                                      bundle.screenshot, bundle.html))


class DatabaseEvidence:
    """Bundles in the ``evidencia`` table, capped, with retention (see the module doc)."""

    def __init__(self, database_url: str, max_bytes: int, retention_days: float) -> None:
        self.database_url = database_url
        self.max_bytes = max_bytes
        self.retention = dt.timedelta(days=retention_days)

    @classmethod
    def from_settings(cls, settings: Settings) -> DatabaseEvidence:
        return cls(settings.database_url, settings.evidence_max_bytes,
                   settings.evidence_retention_days)

    def _cutoff(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) - self.retention

    def known(self, numero_os: str, reason: str) -> Kept | None:
        if not self.retention:
            return Kept()  # retention 0: nothing is kept, nothing captured
        from sqlalchemy import select

        from registro.db import session_scope
        from registro.models import Evidencia

        with session_scope(self.database_url) as session:
            found = session.scalar(select(Evidencia.id).where(
                Evidencia.numero_os == numero_os, Evidencia.motivo == reason,
                Evidencia.criado_em >= self._cutoff()))
        return Kept(id=found) if found else None

    def keep(self, bundle: Bundle) -> Kept:
        """Store the bundle, unless one of the same OS and reason is within the window
        (its id is answered); expired bundles are deleted first, in the same write."""
        if not self.retention:
            return Kept()
        from sqlalchemy import delete
        from sqlalchemy.exc import IntegrityError

        from registro.db import session_scope
        from registro.models import Evidencia

        packed = pack(bundle, self.max_bytes)
        row_id = uuid.uuid4().hex
        try:
            with session_scope(self.database_url) as session:
                session.execute(delete(Evidencia).where(Evidencia.criado_em < self._cutoff()))
                session.add(Evidencia(
                    id=row_id, numero_os=bundle.numero_os, motivo=bundle.reason,
                    mensagem=bundle.message, task_id=bundle.task_id, url=bundle.url,
                    titulo=bundle.title, criado_em=bundle.created_at,
                    html_gz=packed.html_gz, screenshot_png=packed.screenshot,
                    log_gz=packed.log_gz,
                    html_bytes=packed.html_bytes if packed.html_gz is not None else None,
                    screenshot_bytes=len(packed.screenshot) if packed.screenshot else None,
                    html_truncado=packed.html_truncated,
                    screenshot_descartado=packed.screenshot_dropped,
                    capturado_bytes=packed.captured_bytes,
                    armazenado_bytes=packed.stored_bytes))
        except IntegrityError:  # a bundle of this OS and reason is kept already
            return self.known(bundle.numero_os, bundle.reason) or Kept()
        return Kept(id=row_id)


# --- reading it back ---------------------------------------------------------------------------


def read_metadata(database_url: str, evidencia_id: str) -> dict[str, Any] | None:
    """The stored bundle's description (``metadata`` plus ``id``), without its parts."""
    from sqlalchemy import select

    from registro.db import session_scope
    from registro.models import Evidencia
    from registro.records import as_utc

    e = Evidencia
    with session_scope(database_url) as session:
        row = session.execute(select(
            e.numero_os, e.motivo, e.mensagem, e.task_id, e.url, e.titulo, e.criado_em,
            e.log_gz, e.html_bytes, e.screenshot_bytes, e.html_truncado,
            e.screenshot_descartado, e.capturado_bytes, e.armazenado_bytes,
        ).where(e.id == evidencia_id)).one_or_none()
    if row is None:
        return None
    log = json.loads(gzip.decompress(row.log_gz))
    return {
        "id": evidencia_id, "numero_os": row.numero_os, "motivo": row.motivo,
        "mensagem": row.mensagem, "task_id": row.task_id, "url": row.url,
        "titulo": row.titulo, "criado_em": as_utc(row.criado_em).isoformat(),
        "passos": log["passos"], "erros_console": log["console"],
        "partes": parts(row.screenshot_bytes, row.html_bytes),
        "html_truncado": row.html_truncado, "captura_descartada": row.screenshot_descartado,
        "bytes_capturados": row.capturado_bytes, "bytes_armazenados": row.armazenado_bytes,
    }


def read_part(database_url: str, evidencia_id: str, part: str) -> tuple[bool, bytes | None]:
    """``(bundle exists, the part as served)``: the PNG, or the HTML in UTF-8."""
    from sqlalchemy import select

    from registro.db import session_scope
    from registro.models import Evidencia

    column = {SCREENSHOT: Evidencia.screenshot_png, PAGE: Evidencia.html_gz}[part]
    with session_scope(database_url) as session:
        row = session.execute(select(Evidencia.id, column)
                              .where(Evidencia.id == evidencia_id)).one_or_none()
    if row is None:
        return False, None
    data = row[1]
    return True, (gzip.decompress(data) if part == PAGE and data is not None else data)
