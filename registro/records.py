"""Storing scraped service orders, idempotently, and reading them back."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from registro.models import Cliente, Equipamento, OrdemServico, OsAlteracao
from registro.schemas import (
    ClienteData,
    EquipamentoData,
    OrdemServicoData,
    ScrapedOS,
    ScrapeResult,
)

# The answers' section names (``public_data``) and the metric's, per part of a record.
SECTIONS = (("ordem_servico", "os", "ordem_servico"),
            ("cliente_dados", "cliente", "cliente"),
            ("equipamento_dados", "equipamento", "equipamento"))


@dataclass(frozen=True)
class FieldChange:
    campo: str  # "ordem_servico.status", "cliente_dados.telefone", ...
    valor_anterior: str | None
    valor_novo: str | None


@dataclass(frozen=True)
class SavedIds:
    cliente_id: int
    equipamento_id: int
    os_id: int
    # When this save read the OS (its scraped_at, the answers' lido_em), and the fields it
    # found changed against the stored record (also written to os_alteracao).
    lido_em: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC),
                                 compare=False)
    changes: tuple[FieldChange, ...] = field(default=(), compare=False)

    def changes_by_section(self) -> dict[str, int]:
        """Changed fields per section: ordem_servico, cliente, equipamento."""
        names = {answer: metric for answer, _attr, metric in SECTIONS}
        return dict(Counter(names[c.campo.split(".", 1)[0]] for c in self.changes))


def _upsert(session: Session, model, key: str, values: dict[str, Any]) -> int:
    """INSERT ... ON CONFLICT (natural key) DO UPDATE ... RETURNING id: atomic, race-free."""
    dialect = session.get_bind().dialect.name
    stmt: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(model).values(**values)
    elif dialect == "sqlite":
        stmt = sqlite.insert(model).values(**values)
    else:
        raise ValueError(f"unsupported database {dialect!r}: SQLite or PostgreSQL")
    update: dict[str, Any] = {k: stmt.excluded[k] for k in values if k != key}
    update["updated_at"] = dt.datetime.now(dt.UTC)
    upsert = stmt.on_conflict_do_update(index_elements=[key], set_=update).returning(model.id)
    return session.execute(upsert).scalar_one()


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands stored datetimes back naive (they are UTC); PostgreSQL, aware."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _as_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _section_changes(prefix: str, old: BaseModel, new: BaseModel) -> list[FieldChange]:
    """Fields whose value differs, compared as Python values (Decimal("7.5") equals the
    stored Decimal("7.50")), written as the answers' JSON text."""
    old_values, new_values = old.model_dump(), new.model_dump()
    old_json, new_json = old.model_dump(mode="json"), new.model_dump(mode="json")
    return [FieldChange(f"{prefix}.{name}", _as_text(old_json[name]), _as_text(new_json[name]))
            for name, value in new_values.items() if old_values[name] != value]


def diff_records(old: ScrapedOS, new: ScrapedOS) -> list[FieldChange]:
    """What changed between two reads of one OS, section by section, field by field."""
    changes: list[FieldChange] = []
    for prefix, attr, _metric in SECTIONS:
        changes += _section_changes(prefix, getattr(old, attr), getattr(new, attr))
    return changes


def _lock_os(session: Session, numero_os: str) -> None:
    """Serialise the saves of one OS until the caller's transaction ends, so that two
    saves of the same read never both see the old values (and write the change twice).

    PostgreSQL: a transaction-scoped advisory lock on the OS number -- unlike
    ``SELECT ... FOR UPDATE`` it also holds for the first save, when no row exists yet.
    SQLite: a write statement first, which takes the database's single write lock
    before the stored record is read (pysqlite would otherwise read outside of it).
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(
            func.hashtextextended("registro.ordem_servico:" + numero_os, 0))))
    elif dialect == "sqlite":
        session.execute(text("DELETE FROM os_alteracao WHERE 0"))


def _stored(session: Session, numero_os: str) -> ScrapedOS | None:
    row = find_os(session, numero_os)
    if row is None:
        return None
    stored = to_scraped(row)
    # the upserts below change these rows behind the ORM's back: never serve them stale
    for obj in (row, row.cliente, row.equipamento):
        session.expunge(obj)
    return stored


def save_scraped(session: Session, scraped: ScrapedOS) -> SavedIds:
    """Create or update cliente, equipamento and OS in the caller's transaction, and
    write one ``os_alteracao`` row per field that changed against the stored record.

    Scraping the same OS twice yields the same ids, no duplicate rows and no history;
    an unchanged save only moves ``scraped_at``. The first save of an OS has nothing
    to compare with and writes no history.
    """
    _lock_os(session, scraped.os.numero_os)
    before = _stored(session, scraped.os.numero_os)
    changes = diff_records(before, scraped) if before is not None else []
    read_at = dt.datetime.now(dt.UTC)  # after the lock: history ordered as saved
    cliente_id = _upsert(session, Cliente, "cnpj", scraped.cliente.model_dump())
    equipamento_id = _upsert(
        session, Equipamento, "numero_serie",
        {**scraped.equipamento.model_dump(), "cliente_id": cliente_id},
    )
    os_id = _upsert(
        session, OrdemServico, "numero_os",
        {
            **scraped.os.model_dump(),
            "cliente_id": cliente_id,
            "equipamento_id": equipamento_id,
            "scraped_fields": scraped.field_count(),
            "scraped_at": read_at,
        },
    )
    if changes:
        session.execute(insert(OsAlteracao), [
            {"ordem_servico_id": os_id, "campo": c.campo, "valor_anterior": c.valor_anterior,
             "valor_novo": c.valor_novo, "observado_em": read_at} for c in changes])
    return SavedIds(cliente_id, equipamento_id, os_id, lido_em=read_at, changes=tuple(changes))


def find_os(session: Session, numero_os: str) -> OrdemServico | None:
    return session.scalar(select(OrdemServico).where(OrdemServico.numero_os == numero_os))


def to_scraped(os_row: OrdemServico) -> ScrapedOS:
    return ScrapedOS(
        cliente=ClienteData.model_validate(os_row.cliente),
        equipamento=EquipamentoData.model_validate(os_row.equipamento),
        os=OrdemServicoData.model_validate(os_row),
    )


def describe_equipamento(e: EquipamentoData) -> str:
    parts = [e.tipo, e.fabricante, e.modelo]
    return " ".join(p for p in parts if p) or e.numero_serie


def public_data(scraped: ScrapedOS) -> dict[str, Any]:
    """The ``data`` object of the API answers.

    The guide's keys (``numero_os``, ``cliente``, ``equipamento`` as display strings)
    come first; every normalised field follows under ``ordem_servico``,
    ``cliente_dados`` and ``equipamento_dados``.
    """
    return {
        "numero_os": scraped.os.numero_os,
        "cliente": scraped.cliente.razao_social,
        "equipamento": describe_equipamento(scraped.equipamento),
        "ordem_servico": scraped.os.model_dump(mode="json"),
        "cliente_dados": scraped.cliente.model_dump(mode="json"),
        "equipamento_dados": scraped.equipamento.model_dump(mode="json"),
    }


@dataclass(frozen=True)
class HistoryPage:
    total: int  # changes stored for this OS
    changes: list[OsAlteracao]  # newest first
    next_before: int | None  # the ``antes_de`` of the next (older) page, if any


def history_page(session: Session, numero_os: str, limit: int,
                 before_id: int | None = None) -> HistoryPage | None:
    """One page of an OS's history, newest first (in the order it was saved; keyset on
    id, so rows saved meanwhile never shift a page). None when the OS is not stored."""
    os_id = session.scalar(select(OrdemServico.id).where(OrdemServico.numero_os == numero_os))
    if os_id is None:
        return None
    query = select(OsAlteracao).where(OsAlteracao.ordem_servico_id == os_id)
    if before_id is not None:
        query = query.where(OsAlteracao.id < before_id)
    rows = list(session.scalars(query.order_by(OsAlteracao.id.desc()).limit(limit + 1)))
    total = session.scalar(select(func.count()).select_from(OsAlteracao)
                           .where(OsAlteracao.ordem_servico_id == os_id)) or 0
    more = len(rows) > limit
    rows = rows[:limit]
    return HistoryPage(total=total, changes=rows, next_before=rows[-1].id if more else None)


def scrape_result(scraped: ScrapedOS, ids: SavedIds) -> ScrapeResult:
    """What a saved scrape answers: the task's result, the fallback's body."""
    return ScrapeResult(data=public_data(scraped), cliente_id=ids.cliente_id,
                        equipamento_id=ids.equipamento_id,
                        scraped_fields=scraped.field_count(), lido_em=ids.lido_em)


def read_since(session: Session, numero_os: str, read_at: dt.datetime) -> ScrapeResult | None:
    """The stored OS's result when it was read after ``read_at``, else None: a refresh of
    a record that another task has refreshed since has nothing left to read."""
    row = find_os(session, numero_os)
    if row is None or as_utc(row.scraped_at) <= as_utc(read_at):
        return None
    scraped = to_scraped(row)
    return ScrapeResult(data=public_data(scraped), cliente_id=row.cliente_id,
                        equipamento_id=row.equipamento_id,
                        scraped_fields=scraped.field_count(), lido_em=as_utc(row.scraped_at))
