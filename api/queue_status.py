"""GET queue-status: waiting and running tasks, live workers and the background refresh,
read in one round trip with the caller's limit."""

from __future__ import annotations

import time

from redis.exceptions import RedisError

from registro import pipeline_state as state
from registro.api.schemas import AtualizacaoAutomatica, QueueInfo, QueueStatus
from registro.api.security import Caller, RateLimiter
from registro.queue import QUEUE_NAME, QueueDepth, depth_keys
from registro.refresh_state import LEASE_KEY, STATUS_KEY, SchedulerStatus, holder_of

_UNAVAILABLE = QueueStatus(status="unavailable", celery_available=False,
                           message="Redis indisponível: buscas usam o modo síncrono",
                           queue_info=QueueInfo(active_tasks=0, scheduled_tasks=0,
                                                total_queue=0, workers_online=0))


def refresh_status(enabled: bool, lease_raw: bytes | None, status_raw: bytes | None,
                   now: float) -> AtualizacaoAutomatica:
    """``atualizacao_automatica`` from the scheduler's lease and last pass in Redis."""
    status = SchedulerStatus.decode(status_raw)
    if status is None:
        return AtualizacaoAutomatica(habilitada=enabled, lider=holder_of(lease_raw))
    return AtualizacaoAutomatica(
        habilitada=enabled, lider=holder_of(lease_raw), ultima_execucao=status.last_run_iso(),
        atualizacoes_em_andamento=status.in_flight, registros_abertos=status.open_records,
        idade_mais_antiga_segundos=status.oldest_age_s(now))


async def queue_status(limiter: RateLimiter, caller: Caller, *,
                       refresh_enabled: bool = True) -> QueueStatus:
    """Waiting and running tasks, live workers and the background refresh: the caller's
    limit, the queue, the workers' heartbeats and the refresh scheduler's state in one
    round trip."""
    try:
        lists, unacked_key = depth_keys(QUEUE_NAME)
        reads = await limiter.admit_queue(
            caller, lists, unacked_key, state.WORKERS_KEY,
            state.HEARTBEAT_PREFIX, extra_keys=(LEASE_KEY, STATUS_KEY))
    except RedisError:
        return _UNAVAILABLE
    n_workers, _slots, _dead = state.count_heartbeats(state.worker_names(reads.names),
                                                      reads.heartbeats)
    depth = QueueDepth.from_reads(reads.lengths, reads.unacked, QUEUE_NAME)
    return QueueStatus(
        status="success", celery_available=n_workers > 0,
        queue_info=QueueInfo(active_tasks=depth.in_progress, scheduled_tasks=depth.waiting,
                             total_queue=depth.total, workers_online=n_workers),
        atualizacao_automatica=refresh_status(refresh_enabled, reads.extra[0], reads.extra[1],
                                              time.time()))
