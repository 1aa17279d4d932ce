"""Storing scraped service orders, idempotently, and reading them back."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from registro.models import Cliente, Equipamento, OrdemServico
from registro.schemas import ClienteData, EquipamentoData, OrdemServicoData, ScrapedOS


@dataclass(frozen=True)
class SavedIds:
    cliente_id: int
    equipamento_id: int
    os_id: int


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


def save_scraped(session: Session, scraped: ScrapedOS) -> SavedIds:
    """Create or update cliente, equipamento and OS in the caller's transaction.

    Scraping the same OS twice yields the same ids and no duplicate rows.
    """
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
            "scraped_at": dt.datetime.now(dt.UTC),
        },
    )
    return SavedIds(cliente_id, equipamento_id, os_id)


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
