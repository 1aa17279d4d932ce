"""Response models of the API (the guide's answer shapes), apart from the DB models.

Their class names are the schema names of the OpenAPI document, from which clients
(the web front end's TypeScript types) are generated: keep them stable. Examples are
the guide's own.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from registro.evidence import ID_PATTERN as EVIDENCIA_ID_PATTERN
from registro.schemas import ScrapeResult

GUIDE_DATA = {"numero_os": "12345", "cliente": "...", "equipamento": "..."}


def _example(**example: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class Instructions(BaseModel):
    check_status: str = Field(description="Where to poll the task's status.")


class BuscarOSFoundExisting(BaseModel):
    """The OS is stored: answered from the local database."""

    model_config = _example(status="found_existing", message="OS 12345 já existe no sistema",
                            data=GUIDE_DATA, fonte="banco_local",
                            lido_em="2026-11-30T01:54:33.123456Z", idade_segundos=3600,
                            desatualizado=True, task_id="scraping_12345", instructions={
                                "check_status": "/api/desenvolvimento/scraping-status/"
                                                "scraping_12345"})

    status: Literal["found_existing"] = "found_existing"
    message: str
    data: dict[str, Any] = Field(description="numero_os, cliente, equipamento (display "
                                 "strings) and every field under ordem_servico, "
                                 "cliente_dados, equipamento_dados.")
    fonte: Literal["banco_local"] = "banco_local"
    lido_em: dt.datetime = Field(description="When the record was last read from the legacy "
                                 "system (UTC), changed or not.")
    idade_segundos: int = Field(ge=0, description="Seconds since lido_em, at this answer.")
    desatualizado: bool = Field(description="True only when the caller passed max_idade and "
                                "the record is older: the record is still answered, and a "
                                "refresh is queued (task_id, instructions) when the queue "
                                "can take it.")
    task_id: str | None = Field(None, pattern=r"^scraping_[0-9]{1,12}$",
                                description="With desatualizado: the refresh task.")
    instructions: Instructions | None = Field(None, description="With desatualizado and "
                                              "task_id: where to poll the refresh.")


class BuscarOSQueued(BaseModel):
    """A scrape is queued (or was already queued or running)."""

    model_config = _example(
        status="queued", message="OS 12345 adicionada à fila de processamento",
        task_id="scraping_12345", estimated_time="2-5 minutos",
        instructions={"check_status": "/api/desenvolvimento/scraping-status/scraping_12345"},
        via="fila", already_queued=False)

    status: Literal["queued"] = "queued"
    message: str
    task_id: str = Field(pattern=r"^scraping_[0-9]{1,12}$")
    estimated_time: str = Field(description="From queue depth, workers online and recent "
                                            "task durations.")
    instructions: Instructions
    via: Literal["fila"] = "fila"
    already_queued: bool = Field(False, description="True when the OS was already queued or "
                                                    "running: no second scrape was started.")


class BuscarOSSyncScraped(ScrapeResult):
    """The synchronous fallback's answer (Redis unreachable or no worker online)."""

    model_config = _example(status="success", message="OS 12345 obtida diretamente do sistema "
                            "legado", data=GUIDE_DATA, cliente_id=123, equipamento_id=456,
                            scraped_fields=45, fonte="sistema_legado", via="sincrono",
                            fallback_reason="no_worker")

    message: str
    fonte: Literal["sistema_legado"] = "sistema_legado"
    via: Literal["sincrono"] = "sincrono"
    fallback_reason: Literal["redis_unavailable", "no_worker", "publish_failed"]


class BuscarOSResponse(RootModel[Annotated[
        BuscarOSFoundExisting | BuscarOSQueued | BuscarOSSyncScraped,
        Field(discriminator="status")]]):
    """One of three answers, told apart by ``status``."""


class Alteracao(BaseModel):
    """One field a read of the OS found changed against the stored record."""

    id: int = Field(description="Increasing with every save: the antes_de of a next page.")
    campo: str = Field(description="Section and field as in the answers' data: "
                       "ordem_servico.status, cliente_dados.telefone, "
                       "equipamento_dados.modelo, ...")
    valor_anterior: str | None = Field(description="The stored value, as JSON text "
                                       "(\"1234.56\", \"2024-03-05\"); null when absent.")
    valor_novo: str | None = Field(description="The value read, same format.")
    observado_em: dt.datetime = Field(description="When the read that found it was saved "
                                      "(UTC; that read's lido_em).")


class HistoricoOS(BaseModel):
    """A page of an OS's history, newest first."""

    model_config = _example(numero_os="12345", total=3, alteracoes=[{
        "id": 41, "campo": "ordem_servico.status", "valor_anterior": "Em andamento",
        "valor_novo": "Concluída", "observado_em": "2026-11-30T01:54:33.123456Z"}],
        proxima_pagina="/api/desenvolvimento/historico/12345?limite=1&antes_de=41")

    numero_os: str = Field(pattern=r"^[0-9]{1,12}$")
    total: int = Field(ge=0, description="Changes stored for this OS, all pages.")
    alteracoes: list[Alteracao]
    proxima_pagina: str | None = Field(description="Path of the next (older) page; null on "
                                       "the last one.")


ETAPA_PATTERN = r"^[a-z_]{1,32}$"


class ScrapingStatus(BaseModel):
    model_config = _example(task_id="scraping_12345", status="PROGRESS",
                            message="Executando scraping externo...", progress=60,
                            numero_os="12345")

    task_id: str = Field(pattern=r"^scraping_[0-9]{1,12}$")
    status: Literal["PENDING", "PROGRESS", "SUCCESS", "FAILURE"]
    message: str
    progress: int = Field(ge=0, le=100)
    numero_os: str = Field(pattern=r"^[0-9]{1,12}$")
    result: ScrapeResult | None = Field(None, description="On SUCCESS.")
    reason: str | None = Field(None, description="On FAILURE: not_found, login_failed, "
                               "retries_exhausted, time_limit, ...")
    evidencia_id: str | None = Field(
        None, pattern=EVIDENCIA_ID_PATTERN, description="On FAILURE, when the scrape kept "
        "evidence: GET /api/desenvolvimento/evidencias/{evidencia_id} (the first failure of "
        "this reason for this OS within the retention window).")
    etapa: str | None = Field(
        None, pattern=ETAPA_PATTERN, description="On PROGRESS: the worker's stage code, for "
        "clients to show in their own words: queued, waiting_budget, connected, logged_in, "
        "searching, extracting, saving (the worker's), started, retrying (the task's). "
        "Absent from workers older than the field; message stays the worker's own text.")


class QueueInfo(BaseModel):
    active_tasks: int = Field(ge=0)
    scheduled_tasks: int = Field(ge=0)
    total_queue: int = Field(ge=0)
    workers_online: int = Field(ge=0)


class AtualizacaoAutomatica(BaseModel):
    """The background refresh of open OS (one scheduler per deployment)."""

    habilitada: bool = Field(description="REGISTRO_REFRESH_ENABLED of this API.")
    lider: str | None = Field(None, description="Worker holding the scheduler's lease "
                              "(absent: none right now).")
    ultima_execucao: str | None = Field(None, description="ISO-8601 UTC time of the "
                                        "leader's last pass (absent: never ran).")
    atualizacoes_em_andamento: int | None = Field(
        None, ge=0, description="Refreshes queued or running after that pass.")
    registros_abertos: int | None = Field(
        None, ge=0, description="Stored OS whose status is not closed, at that pass.")
    idade_mais_antiga_segundos: int | None = Field(
        None, ge=0, description="Seconds since the least recently read open OS was read.")


class QueueStatus(BaseModel):
    model_config = _example(status="success", queue_info={"active_tasks": 2,
                            "scheduled_tasks": 5, "total_queue": 7, "workers_online": 3},
                            celery_available=True,
                            atualizacao_automatica={
                                "habilitada": True, "lider": "celery@registro-worker-0",
                                "ultima_execucao": "2026-11-30T02:00:00+00:00",
                                "atualizacoes_em_andamento": 2, "registros_abertos": 120,
                                "idade_mais_antiga_segundos": 21700})

    status: Literal["success", "unavailable"]
    queue_info: QueueInfo
    celery_available: bool
    message: str | None = Field(None, description="When Redis is unavailable.")
    atualizacao_automatica: AtualizacaoAutomatica | None = Field(
        None, description="The background refresh (absent when Redis is unavailable).")


class Health(BaseModel):
    status: Literal["ok", "ready", "not_ready"]
    database: Literal["ok", "unavailable"] | None = None
    redis: Literal["ok", "unavailable"] | None = None


class ErrorBody(BaseModel):
    """Every error of the API but the fallback's: one line of text."""

    model_config = _example(detail="unknown task_id scraping_12345")

    detail: str


class FallbackError(BaseModel):
    """A synchronous fallback that could not answer: busy (503), or its scrape failed
    (404 not_found, 502 other permanent reasons, 503 transient ones)."""

    model_config = _example(status="busy", via="sincrono", fallback_reason="redis_unavailable",
                            message="Fila indisponível e limite de scraping síncrono "
                                    "atingido; tente novamente em instantes")

    status: Literal["busy", "error"]
    message: str
    reason: str | None = Field(None, description="With status 'error': not_found, "
                               "login_failed, timeout, ...")
    evidencia_id: str | None = Field(
        None, pattern=EVIDENCIA_ID_PATTERN, description="With status 'error', when the "
        "scrape kept evidence: GET /api/desenvolvimento/evidencias/{evidencia_id}.")
    via: Literal["sincrono"] = "sincrono"
    fallback_reason: Literal["redis_unavailable", "no_worker", "publish_failed"]


class PassoEvidencia(BaseModel):
    """One flow step of the failed scrape."""

    passo: str = Field(description="browser, login, search, 'extract <block>', build.")
    inicio_ms: int = Field(ge=0, description="Milliseconds since the scrape started.")
    duracao_ms: int = Field(ge=0)
    resultado: Literal["ok", "falhou"]
    detalhe: str | None = Field(None, description="With falhou: the error, redacted.")


class ErroConsole(BaseModel):
    """A warning or error of the browser console during the failed scrape."""

    nivel: str = Field(description="WARNING or SEVERE.")
    origem: str = Field(description="javascript, network, console-api, ...")
    mensagem: str
    em: dt.datetime


class ParteEvidencia(BaseModel):
    nome: Literal["screenshot.png", "page.html"]
    tipo: Literal["image/png", "text/html"]
    bytes: int = Field(ge=0, description="Size as served.")
    caminho: str = Field(description="Where to GET it (same key).")


class Evidencia(BaseModel):
    """The evidence bundle of a failed scrape, without its parts (see ``partes``).
    Secrets were removed before it was stored: the legacy password, session cookie
    values, CSRF tokens; password fields were blanked before the screenshot."""

    model_config = _example(
        id="3f2b9c0e8d7a4b1c9e6f5a4b3c2d1e0f", numero_os="12345", motivo="login_failed",
        mensagem="the site refused the credentials of user 'demo' (the login's answer)",
        task_id="scraping_12345", url="http://legacy.example/login",
        titulo="SGO — Acesso ao sistema", criado_em="2026-12-05T10:00:00+00:00",
        passos=[{"passo": "browser", "inicio_ms": 0, "duracao_ms": 3, "resultado": "ok"},
                {"passo": "login", "inicio_ms": 3, "duracao_ms": 412, "resultado": "falhou",
                 "detalhe": "PermanentScrapeError: login_failed: the site refused ..."}],
        erros_console=[], partes=[
            {"nome": "screenshot.png", "tipo": "image/png", "bytes": 31250,
             "caminho": "/api/desenvolvimento/evidencias/3f2b9c0e8d7a4b1c9e6f5a4b3c2d1e0f/"
                        "screenshot.png"}],
        html_truncado=False, captura_descartada=False, bytes_capturados=35012,
        bytes_armazenados=32990)

    id: str = Field(pattern=EVIDENCIA_ID_PATTERN)
    numero_os: str = Field(pattern=r"^[0-9]{1,12}$")
    motivo: str = Field(description="The scrape's failure reason (not_found, login_failed, "
                        "profile_mismatch, timeout, ...).")
    mensagem: str
    task_id: str | None = Field(None, description="The task that kept it (absent: the "
                                "synchronous fallback).")
    url: str | None
    titulo: str | None
    criado_em: dt.datetime
    passos: list[PassoEvidencia]
    erros_console: list[ErroConsole]
    partes: list[ParteEvidencia]
    html_truncado: bool = Field(description="The HTML was cut to fit "
                                "REGISTRO_EVIDENCE_MAX_BYTES.")
    captura_descartada: bool = Field(description="The screenshot alone did not fit "
                                     "REGISTRO_EVIDENCE_MAX_BYTES: not kept.")
    bytes_capturados: int = Field(ge=0, description="HTML and screenshot as captured.")
    bytes_armazenados: int = Field(ge=0, description="The bundle as stored (compressed).")
