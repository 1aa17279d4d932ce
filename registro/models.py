"""Database tables (SQLAlchemy 2.x). Each row is keyed by its natural key."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class _Timestamps:
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Cliente(_Timestamps, Base):
    __tablename__ = "cliente"

    id: Mapped[int] = mapped_column(primary_key=True)
    cnpj: Mapped[str] = mapped_column(String(14), unique=True)
    razao_social: Mapped[str] = mapped_column(String(200))
    nome_fantasia: Mapped[str | None] = mapped_column(String(200))
    inscricao_estadual: Mapped[str | None] = mapped_column(String(30))
    logradouro: Mapped[str | None] = mapped_column(String(200))
    numero: Mapped[str | None] = mapped_column(String(20))
    complemento: Mapped[str | None] = mapped_column(String(100))
    bairro: Mapped[str | None] = mapped_column(String(100))
    cidade: Mapped[str | None] = mapped_column(String(100))
    uf: Mapped[str | None] = mapped_column(String(2))
    cep: Mapped[str | None] = mapped_column(String(8))
    telefone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(200))
    contato_nome: Mapped[str | None] = mapped_column(String(120))
    contato_cargo: Mapped[str | None] = mapped_column(String(120))

    equipamentos: Mapped[list[Equipamento]] = relationship(back_populates="cliente")


class Equipamento(_Timestamps, Base):
    __tablename__ = "equipamento"

    id: Mapped[int] = mapped_column(primary_key=True)
    numero_serie: Mapped[str] = mapped_column(String(60), unique=True)
    cliente_id: Mapped[int | None] = mapped_column(ForeignKey("cliente.id"))
    tipo: Mapped[str | None] = mapped_column(String(100))
    fabricante: Mapped[str | None] = mapped_column(String(100))
    modelo: Mapped[str | None] = mapped_column(String(100))
    potencia_cv: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    tensao_v: Mapped[str | None] = mapped_column(String(40))  # "220/380": as the plate says
    corrente_a: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    rotacao_rpm: Mapped[int | None] = mapped_column(Integer)
    frequencia_hz: Mapped[int | None] = mapped_column(Integer)
    ano_fabricacao: Mapped[int | None] = mapped_column(Integer)
    grau_protecao: Mapped[str | None] = mapped_column(String(10))
    carcaca: Mapped[str | None] = mapped_column(String(20))
    peso_kg: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    tag_identificacao: Mapped[str | None] = mapped_column(String(60))
    classe_isolamento: Mapped[str | None] = mapped_column(String(5))

    cliente: Mapped[Cliente | None] = relationship(back_populates="equipamentos")


class OrdemServico(_Timestamps, Base):
    __tablename__ = "ordem_servico"

    id: Mapped[int] = mapped_column(primary_key=True)
    numero_os: Mapped[str] = mapped_column(String(20), unique=True)
    cliente_id: Mapped[int] = mapped_column(ForeignKey("cliente.id"))
    equipamento_id: Mapped[int] = mapped_column(ForeignKey("equipamento.id"))
    data_abertura: Mapped[dt.date | None] = mapped_column(Date)
    data_previsao: Mapped[dt.date | None] = mapped_column(Date)
    data_conclusao: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str | None] = mapped_column(String(60))
    prioridade: Mapped[str | None] = mapped_column(String(30))
    setor: Mapped[str | None] = mapped_column(String(100))
    tecnico_responsavel: Mapped[str | None] = mapped_column(String(120))
    defeito_relatado: Mapped[str | None] = mapped_column(Text)
    diagnostico: Mapped[str | None] = mapped_column(Text)
    servico_executado: Mapped[str | None] = mapped_column(Text)
    horas_trabalhadas: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    valor_mao_obra: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    valor_pecas: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    valor_total: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    garantia_dias: Mapped[int | None] = mapped_column(Integer)
    nota_fiscal: Mapped[str | None] = mapped_column(String(30))
    observacoes: Mapped[str | None] = mapped_column(Text)
    scraped_fields: Mapped[int] = mapped_column(Integer, default=0)
    # Last read from the legacy system: set by every save, changed or not (the answers'
    # ``lido_em``). Rows stored before migration 0003 got their updated_at.
    scraped_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())

    cliente: Mapped[Cliente] = relationship()
    equipamento: Mapped[Equipamento] = relationship()

    __table_args__ = (
        # the background refresh picks open OS, oldest read first
        Index("ix_ordem_servico_status_scraped_at", "status", "scraped_at"),
    )


class OsAlteracao(Base):
    """One field of a stored OS record that a later read found changed.

    ``campo`` names the field as the answers do: ``ordem_servico.status``,
    ``cliente_dados.telefone``, ``equipamento_dados.modelo``. Values are the JSON text
    of the answers (``"1234.56"``, ``"2024-03-05"``); None for an absent value.
    """

    __tablename__ = "os_alteracao"

    id: Mapped[int] = mapped_column(primary_key=True)
    ordem_servico_id: Mapped[int] = mapped_column(
        ForeignKey("ordem_servico.id", ondelete="CASCADE"))
    campo: Mapped[str] = mapped_column(String(80))
    valor_anterior: Mapped[str | None] = mapped_column(Text)
    valor_novo: Mapped[str | None] = mapped_column(Text)
    observado_em: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # one OS's history, newest first, a page at a time (keyset on id)
        Index("ix_os_alteracao_ordem_servico_id_id", "ordem_servico_id", "id"),
    )


class Evidencia(Base):
    """The evidence bundle of a failed scrape (``registro/evidence.py``), redacted.

    One per OS and reason within the retention window (the first failure); the HTML and
    the log are gzip'd, the screenshot is the PNG as captured (or dropped by the cap).
    """

    __tablename__ = "evidencia"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex
    numero_os: Mapped[str] = mapped_column(String(20))
    motivo: Mapped[str] = mapped_column(String(40))  # the Reason
    mensagem: Mapped[str] = mapped_column(Text)
    task_id: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(Text)
    titulo: Mapped[str | None] = mapped_column(Text)
    criado_em: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    html_gz: Mapped[bytes | None] = mapped_column(LargeBinary)
    screenshot_png: Mapped[bytes | None] = mapped_column(LargeBinary)
    log_gz: Mapped[bytes] = mapped_column(LargeBinary)  # {"passos": [...], "console": [...]}
    html_bytes: Mapped[int | None] = mapped_column(Integer)  # decompressed, as served
    screenshot_bytes: Mapped[int | None] = mapped_column(Integer)
    html_truncado: Mapped[bool] = mapped_column(Boolean)
    screenshot_descartado: Mapped[bool] = mapped_column(Boolean)
    capturado_bytes: Mapped[int] = mapped_column(Integer)
    armazenado_bytes: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        # the dedupe: a second failure of the same OS and reason finds the first
        UniqueConstraint("numero_os", "motivo", name="uq_evidencia_numero_os_motivo"),
        # the retention's delete on every write
        Index("ix_evidencia_criado_em", "criado_em"),
    )
