"""GET scraping-status: a task's PENDING / PROGRESS / SUCCESS / FAILURE, from the API's
task record and Celery's result, read in one round trip and cached per raw value."""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from typing import Any

from celery import Celery
from redis.exceptions import RedisError

from registro import pipeline_state as state
from registro.api.errors import StateUnavailable, UnknownTask
from registro.api.schemas import ETAPA_PATTERN, ScrapeResult, ScrapingStatus
from registro.api.security import Caller, RateLimiter
from registro.errors import Reason

log = logging.getLogger("registro.api")

_ETAPA = re.compile(ETAPA_PATTERN)


def _exception_text(info: object) -> str:
    return str(info) if info is not None else ""


def status_from_result(task_id: str, numero_os: str, meta: dict[str, Any] | None,
                       failure: dict[str, str] | None) -> ScrapingStatus:
    """The guide's status from Celery's decoded result meta (None: nothing stored yet)."""
    task_state = meta.get("status", "PENDING") if meta else "PENDING"
    info = meta.get("result") if meta else None
    base = {"task_id": task_id, "numero_os": numero_os}
    if task_state == "SUCCESS" and isinstance(info, dict):
        return ScrapingStatus(**base, status="SUCCESS", progress=100,
                          message="Scraping concluído com sucesso",
                          result=ScrapeResult.model_validate(info))
    if task_state == "FAILURE":
        failure = failure or {"reason": Reason.INTERNAL_ERROR.value, "message": _exception_text(info)}
        return ScrapingStatus(**base, status="FAILURE", progress=100, reason=failure["reason"],
                          message=f"Scraping falhou ({failure['reason']}): {failure['message']}",
                          evidencia_id=failure.get("evidencia_id"))
    if task_state == "PROGRESS" and isinstance(info, dict):
        step = info.get("step")
        return ScrapingStatus(**base, status="PROGRESS", progress=int(info.get("progress", 0)),
                          message=str(info.get("message", "Executando scraping externo...")),
                          etapa=step if isinstance(step, str) and _ETAPA.match(step) else None)
    if task_state == "STARTED":
        return ScrapingStatus(**base, status="PROGRESS", progress=1,
                          message="Scraping iniciado pelo worker", etapa="started")
    if task_state == "RETRY":
        return ScrapingStatus(**base, status="PROGRESS", progress=0,
                          message="Falha temporária, nova tentativa agendada: "
                                  f"{_exception_text(info)}", etapa="retrying")
    return ScrapingStatus(**base, status="PENDING", progress=0, message="Aguardando na fila")


class StatusAnswers:
    """Per-process LRU: task id -> (the raw Redis values it was built from, encoded answer).

    A finished task is polled until its caller stops; its answer (48 fields decoded,
    validated and encoded again) is rebuilt only when one of the raw values it came from
    changes, compared byte for byte. Event-loop only, so no lock."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._answers: OrderedDict[str, tuple[tuple[Any, ...], bytes]] = OrderedDict()

    def get(self, task_id: str, raw: tuple[Any, ...]) -> bytes | None:
        cached = self._answers.get(task_id)
        if cached is None or cached[0] != raw:
            return None
        self._answers.move_to_end(task_id)
        return cached[1]

    def put(self, task_id: str, raw: tuple[Any, ...], answer: bytes) -> None:
        self._answers[task_id] = (raw, answer)
        self._answers.move_to_end(task_id)
        while len(self._answers) > self.max_entries:
            self._answers.popitem(last=False)


async def task_status(limiter: RateLimiter, celery: Celery, answers: StatusAnswers,
                      caller: Caller, task_id: str) -> bytes:
    """The encoded PENDING / PROGRESS / SUCCESS / FAILURE of a task this API created.

    One round trip: the caller's limit, the API's task record, Celery's result meta
    (read at the key Celery's own backend names, decoded by it) and the failure record.
    """
    backend = celery.backend
    try:
        raw = tuple(await limiter.admit_mget(
            caller, [state.TASK_PREFIX + task_id, backend.get_key_for_task(task_id).decode(),
                     state.FAILURE_PREFIX + task_id]))
    except RedisError as exc:
        log.warning("redis unavailable for scraping-status task_id=%s error=%s: %s",
                    task_id, type(exc).__name__, exc)
        raise StateUnavailable() from None
    record_raw, meta_raw, failure_raw = raw
    if record_raw is None:
        raise UnknownTask(task_id)
    cached = answers.get(task_id, raw)
    if cached is not None:
        return cached
    try:
        meta = backend.decode_result(meta_raw) if meta_raw else None
    except Exception:  # noqa: BLE001 - a result this process cannot rebuild
        meta = None
    failure = json.loads(failure_raw) if failure_raw else None
    answer = status_from_result(task_id, json.loads(record_raw)["numero_os"], meta, failure
                                ).model_dump_json(exclude_none=True).encode()
    answers.put(task_id, raw, answer)
    return answer
