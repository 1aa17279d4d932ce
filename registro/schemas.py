"""The shape of one scraped service order: what the scraper returns, what is stored.

These pydantic models are the contract between the scraper, the records and the API.
Field names are Portuguese, as the legacy systems and the users call them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# every numeric column (models.py) keeps two decimals
DECIMAL_PLACES = 2
_CENT = Decimal(1).scaleb(-DECIMAL_PLACES)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    @field_validator("*", mode="after")
    @classmethod
    def _as_stored(cls, value: Any) -> Any:
        """A number as its column stores it: a scrape answers "16.00" as a stored
        record does, not "16.0"."""
        return value.quantize(_CENT, ROUND_HALF_UP) if isinstance(value, Decimal) else value


class ClienteData(_Record):
    cnpj: str = Field(pattern=r"^\d{14}$", description="14 digits, no punctuation")
    razao_social: str
    nome_fantasia: str | None = None
    inscricao_estadual: str | None = None
    logradouro: str | None = None
    numero: str | None = None
    complemento: str | None = None
    bairro: str | None = None
    cidade: str | None = None
    uf: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    cep: str | None = Field(None, pattern=r"^\d{8}$")
    telefone: str | None = Field(None, description="digits only, with area code")
    email: str | None = None
    contato_nome: str | None = None
    contato_cargo: str | None = None


class EquipamentoData(_Record):
    numero_serie: str
    tipo: str | None = None
    fabricante: str | None = None
    modelo: str | None = None
    potencia_cv: Decimal | None = None
    tensao_v: str | None = Field(
        None, pattern=r"^\d{1,6}(/\d{1,6})*$", max_length=40,
        description="the plate's voltages in volts, as listed: '380', '220/380'",
        json_schema_extra={"parser": "voltages"},
    )
    corrente_a: Decimal | None = None
    rotacao_rpm: int | None = None
    frequencia_hz: int | None = None
    ano_fabricacao: int | None = None
    grau_protecao: str | None = None
    carcaca: str | None = None
    peso_kg: Decimal | None = None
    tag_identificacao: str | None = None
    classe_isolamento: str | None = None


    @property
    def tensoes_v(self) -> tuple[int, ...]:
        """The plate's voltages as numbers: '220/380' -> (220, 380)."""
        return tuple(int(v) for v in self.tensao_v.split("/")) if self.tensao_v else ()


class OrdemServicoData(_Record):
    numero_os: str
    data_abertura: dt.date | None = None
    data_previsao: dt.date | None = None
    data_conclusao: dt.date | None = None
    status: str | None = None
    prioridade: str | None = None
    setor: str | None = None
    tecnico_responsavel: str | None = None
    defeito_relatado: str | None = None
    diagnostico: str | None = None
    servico_executado: str | None = None
    horas_trabalhadas: Decimal | None = None
    valor_mao_obra: Decimal | None = None
    valor_pecas: Decimal | None = None
    valor_total: Decimal | None = None
    garantia_dias: int | None = None
    nota_fiscal: str | None = None
    observacoes: str | None = None


class ScrapedOS(_Record):
    """Everything read from one OS page, normalised."""

    cliente: ClienteData
    equipamento: EquipamentoData
    os: OrdemServicoData

    def field_count(self) -> int:
        """Fields that carried a value on the page."""
        return sum(
            v is not None
            for part in (self.cliente, self.equipamento, self.os)
            for v in part.model_dump().values()
        )

    def flat(self) -> dict[str, object]:
        """``{"cliente.cnpj": ..., "os.status": ...}``: handy for comparisons."""
        out: dict[str, object] = {}
        for section in ("cliente", "equipamento", "os"):
            for k, v in getattr(self, section).model_dump().items():
                out[f"{section}.{k}"] = v
        return out


class ScrapeResult(BaseModel):
    """One read of the OS, saved: the result of a SUCCESS task, and the fields of the
    synchronous answer."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "success", "data": {"numero_os": "12345", "cliente": "...",
                                      "equipamento": "..."},
        "cliente_id": 123, "equipamento_id": 456, "scraped_fields": 45}]})

    status: Literal["success"] = "success"
    data: dict[str, Any]
    cliente_id: int
    equipamento_id: int
    scraped_fields: int
    lido_em: dt.datetime | None = Field(None, description="When this read was saved (UTC): "
                                        "the lido_em of later found_existing answers. Absent "
                                        "from results of workers older than this field.")


SECTIONS: dict[str, type[_Record]] = {
    "cliente": ClienteData,
    "equipamento": EquipamentoData,
    "os": OrdemServicoData,
}

# Every field a profile may fill, as "section.field".
ALL_FIELDS: tuple[str, ...] = tuple(
    f"{section}.{name}" for section, model in SECTIONS.items() for name in model.model_fields
)


# --- schema versions -------------------------------------------------------------------
# A site profile names the version it was written for (``schema_version``; none: 1).
# Every change of a field's type or meaning bumps the version and gets a line here;
# ``registro profile lint`` shows the notes newer than a profile's version.


@dataclass(frozen=True)
class SchemaChange:
    version: int  # the first version with the change
    field: str  # "section.name"
    note: str


SCHEMA_CHANGES: tuple[SchemaChange, ...] = (
    SchemaChange(
        2, "equipamento.tensao_v",
        "became text: the plate's voltages as listed ('220/380'), no longer an int (the "
        "first voltage). Its default parser is `voltages`: a chain ending in `int` must "
        "become `[voltages]` or be dropped",
    ),
)

SCHEMA_VERSION: int = max((c.version for c in SCHEMA_CHANGES), default=1)


def changes_since(version: int) -> list[SchemaChange]:
    """The changes a profile written for ``version`` has not seen, oldest first."""
    return sorted((c for c in SCHEMA_CHANGES if c.version > version),
                  key=lambda c: (c.version, c.field))
