"""Response models of the API (the guide's answer shapes), apart from the DB models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Instructions(BaseModel):
    check_status: str = Field(description="Where to poll the task's status.")


class FoundExisting(BaseModel):
    status: Literal["found_existing"] = "found_existing"
    message: str
    data: dict[str, Any] = Field(description="numero_os, cliente, equipamento and every field.")
    fonte: Literal["banco_local"] = "banco_local"


class Queued(BaseModel):
    status: Literal["queued"] = "queued"
    message: str
    task_id: str
    estimated_time: str = Field(description="From queue depth, workers online and recent "
                                            "task durations.")
    instructions: Instructions
    via: Literal["fila"] = "fila"
    already_queued: bool = Field(False, description="True when the OS was already queued or "
                                                    "running: no second scrape was started.")


class ScrapeResult(BaseModel):
    status: Literal["success"] = "success"
    data: dict[str, Any]
    cliente_id: int
    equipamento_id: int
    scraped_fields: int


class SyncScraped(ScrapeResult):
    """The synchronous fallback's answer (Redis unreachable or no worker online)."""

    message: str
    fonte: Literal["sistema_legado"] = "sistema_legado"
    via: Literal["sincrono"] = "sincrono"
    fallback_reason: str


class TaskStatus(BaseModel):
    task_id: str
    status: Literal["PENDING", "PROGRESS", "SUCCESS", "FAILURE"]
    message: str
    progress: int = Field(ge=0, le=100)
    numero_os: str
    result: ScrapeResult | None = None
    reason: str | None = Field(None, description="On FAILURE: not_found, login_failed, "
                               "retries_exhausted, time_limit, ...")


class QueueInfo(BaseModel):
    active_tasks: int
    scheduled_tasks: int
    total_queue: int
    workers_online: int


class QueueStatus(BaseModel):
    status: Literal["success", "unavailable"]
    queue_info: QueueInfo
    celery_available: bool
    message: str | None = None


class Health(BaseModel):
    status: str
    database: str | None = None
    redis: str | None = None


class ErrorBody(BaseModel):
    detail: Any
