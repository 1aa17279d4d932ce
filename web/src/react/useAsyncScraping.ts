import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  type LookupAnswer, type LookupOptions, type OsData, type Queued, type RegistroClient, type TaskState, type TaskStatus, isAbortError,
} from '../client/index.js';
import { useRegistroClient } from './context.js';

/** `idle` before any lookup (and after `cancel`), `starting` while the lookup request is
 * in flight, then the task's own states. */
export type ScrapingStatus = 'idle' | 'starting' | TaskState;

/** What every state carries. */
interface StateBase {
  numeroOS: string | null;
  currentTaskId: string | null;
  /** 0..100, the worker's own percentage. */
  progress: number;
  message: string | null;
  /** The worker's stage code (`etapa`: queued, connected, logged_in, searching,
   * extracting, saving, ...), for words of your own; null before one (or from an older API). */
  stage: string | null;
  /** The API's estimate when the task was queued, e.g. "6-15 segundos". */
  estimatedTime: string | null;
  /** `banco_local`, `fila` or `sincrono`: the only trace of which path answered. */
  via: 'banco_local' | 'fila' | 'sincrono' | null;
}

/** The hook's state, one variant per `status`: `result` is the record exactly when
 * `status` is `SUCCESS`, `error` an `Error` exactly when it is `FAILURE`, so that
 * `if (s.status === 'SUCCESS') s.result.cliente` needs no null check and a SUCCESS
 * without a record cannot be observed. */
export type AsyncScrapingState =
  | (StateBase & { status: 'idle' | 'starting' | 'PENDING' | 'PROGRESS'; result: null; error: null; lidoEm: null;
    desatualizado: false; refreshTaskId: null })
  | (StateBase & {
    status: 'SUCCESS';
    /** The record, whichever path produced it. */
    result: OsData;
    error: null;
    /** When `result` was read from the legacy system (ISO-8601, UTC); null from a worker
     * older than the field. */
    lidoEm: string | null;
    /** `result` is a stored record older than the `maxIdade` asked. While `refreshTaskId`
     * is set its refresh is followed: on SUCCESS `result` and `lidoEm` are replaced and
     * this turns false; if the refresh fails, the stale record stays. */
    desatualizado: boolean;
    refreshTaskId: string | null;
  })
  | (StateBase & { status: 'FAILURE'; result: null; error: Error; lidoEm: null; desatualizado: false;
    refreshTaskId: null });

/** What `startScraping` resolves with when the record is already here: a stored OS, or
 * the synchronous fallback's scrape. Both look the same, as the guide promises ("o
 * usuário não percebe a diferença"); only `via` (and `fonte`) tell them apart. */
export interface RecordAnswer {
  status: 'found_existing';
  message: string;
  data: OsData;
  fonte: 'banco_local' | 'sistema_legado';
  via: 'banco_local' | 'sincrono';
  /** Why the API scraped synchronously (`no_worker`, `redis_unavailable`, ...). */
  fallback_reason?: string;
  /** When the record was read from the legacy system (ISO-8601, UTC). */
  lido_em: string | null;
  /** Seconds since `lido_em` (stored records only). */
  idade_segundos?: number;
  /** Older than the `maxIdade` asked; `task_id` is its refresh, when the queue took it. */
  desatualizado: boolean;
  task_id?: string;
}

/** The guide's two outcomes: the record (`found_existing`) or a task to follow (`queued`). */
export type ScrapingAnswer = RecordAnswer | Queued;

export type AsyncScraping = AsyncScrapingState & AsyncScrapingActions;

export interface AsyncScrapingActions {
  /** True from `startScraping` until the record or an error arrives. */
  isLoading: boolean;
  /** Look the OS up. Resolves with `found_existing` (stored, or scraped synchronously
   * because the queue is down: `via` says which) and `result` set at once, or with
   * `queued` and the task followed until it ends; null on error (see `error`). */
  startScraping(numeroOS: string, options?: LookupOptions): Promise<ScrapingAnswer | null>;
  /** Follow a task started elsewhere. */
  follow(taskId: string, numeroOS?: string): void;
  /** Ask again for the last OS (after a failure), with the options it was asked with
   * (`maxIdade`, `forcar`). */
  retry(): Promise<ScrapingAnswer | null>;
  /** Stop polling and forget the current lookup (the server-side scrape goes on; its
   * record will be found stored next time). */
  cancel(): void;
}

const INITIAL: AsyncScrapingState = {
  status: 'idle', numeroOS: null, currentTaskId: null, progress: 0, message: null, stage: null, estimatedTime: null,
  result: null, via: null, lidoEm: null, desatualizado: false, refreshTaskId: null, error: null,
};

/** The state on the way (idle, starting, PENDING, PROGRESS), keeping what is known. */
function running(s: AsyncScrapingState, status: 'starting' | 'PENDING' | 'PROGRESS', patch: Partial<StateBase> = {}): AsyncScrapingState {
  return { ...base(s), ...patch, status, result: null, error: null, lidoEm: null, desatualizado: false, refreshTaskId: null };
}

function failed(s: AsyncScrapingState, error: unknown): AsyncScrapingState {
  return { ...base(s), status: 'FAILURE', result: null, error: asError(error), lidoEm: null, desatualizado: false,
    refreshTaskId: null };
}

function succeeded(s: AsyncScrapingState, result: OsData, extra: { lidoEm: string | null; desatualizado?: boolean;
  refreshTaskId?: string | null; patch?: Partial<StateBase> }): AsyncScrapingState {
  return { ...base(s), progress: 100, ...extra.patch, status: 'SUCCESS', result, error: null, lidoEm: extra.lidoEm,
    desatualizado: extra.desatualizado ?? false, refreshTaskId: extra.refreshTaskId ?? null };
}

function base(s: AsyncScrapingState): StateBase {
  const { numeroOS, currentTaskId, progress, message, stage, estimatedTime, via } = s;
  return { numeroOS, currentTaskId, progress, message, stage, estimatedTime, via };
}

export function useAsyncScraping(options: { client?: RegistroClient } = {}): AsyncScraping {
  const client = useRegistroClient(options.client);
  const [state, setState] = useState<AsyncScrapingState>(INITIAL);
  const controllerRef = useRef<AbortController | null>(null);
  const numeroRef = useRef<string | null>(null);
  const optionsRef = useRef<LookupOptions>({});

  // A new lookup, follow, cancel or unmount aborts whatever was in flight: no request
  // and no state update outlives it.
  const renew = useCallback((): AbortController => {
    controllerRef.current?.abort();
    const controller = new AbortController();
    controllerRef.current = controller;
    return controller;
  }, []);
  useEffect(() => () => controllerRef.current?.abort(), []);

  const followWith = useCallback(
    (controller: AbortController, taskId: string) => {
      const { signal } = controller;
      // Only the states on the way: SUCCESS and FAILURE come from the wait's outcome (a
      // SUCCESS status carries the record, or the wait rejects).
      const onProgress = (status: TaskStatus) => {
        if (signal.aborted || (status.status !== 'PENDING' && status.status !== 'PROGRESS')) return;
        const next = status.status;
        setState((s) => running(s, next, { progress: status.progress, message: status.message, stage: status.etapa ?? null }));
      };
      client.waitForResult(taskId, { signal, onProgress }).then(
        (result) => {
          if (signal.aborted) return;
          setState((s) => succeeded(s, result.data, { lidoEm: result.lido_em ?? null }));
        },
        (error: unknown) => {
          if (signal.aborted || isAbortError(error)) return;
          setState((s) => failed(s, error));
        },
      );
    },
    [client],
  );

  // Stale-while-revalidate: the stale record is shown (SUCCESS) while its refresh runs.
  const refreshWith = useCallback(
    (controller: AbortController, taskId: string) => {
      const { signal } = controller;
      client.waitForResult(taskId, { signal }).then(
        (result) => {
          if (signal.aborted) return;
          setState((s) => succeeded(s, result.data, { lidoEm: result.lido_em ?? s.lidoEm }));
        },
        () => {
          if (signal.aborted) return;
          setState((s) => (s.status === 'SUCCESS' ? { ...s, refreshTaskId: null } : s)); // the stale record stays
        },
      );
    },
    [client],
  );

  const follow = useCallback(
    (taskId: string, numeroOS?: string) => {
      const controller = renew();
      const numero = numeroOS ?? numeroRef.current;
      numeroRef.current = numero;
      setState(running(INITIAL, 'PENDING', { numeroOS: numero, currentTaskId: taskId, via: 'fila' }));
      followWith(controller, taskId);
    },
    [renew, followWith],
  );

  const startScraping = useCallback(
    async (numeroOS: string, opts: LookupOptions = {}): Promise<ScrapingAnswer | null> => {
      const controller = renew();
      const { signal } = controller;
      numeroRef.current = numeroOS;
      optionsRef.current = { forcar: opts.forcar, maxIdade: opts.maxIdade };
      setState(running(INITIAL, 'starting', { numeroOS }));
      let answer: LookupAnswer;
      try {
        answer = await client.lookup(numeroOS, { signal, forcar: opts.forcar, maxIdade: opts.maxIdade });
      } catch (error) {
        if (!signal.aborted && !isAbortError(error)) setState((s) => failed(s, error));
        return null;
      }
      if (answer.status === 'queued') {
        if (signal.aborted) return answer;
        setState((s) => running(s, 'PENDING', {
          currentTaskId: answer.task_id, message: answer.message, estimatedTime: answer.estimated_time, via: 'fila',
        }));
        followWith(controller, answer.task_id);
        return answer;
      }
      // Stored record or synchronous fallback: the data is here already.
      const record = asRecordAnswer(answer);
      if (!signal.aborted) {
        const refreshTaskId = record.desatualizado ? record.task_id ?? null : null;
        setState((s) => succeeded(s, record.data, {
          lidoEm: record.lido_em, desatualizado: record.desatualizado, refreshTaskId,
          patch: { message: record.message, via: record.via },
        }));
        if (refreshTaskId) refreshWith(controller, refreshTaskId);
      }
      return record;
    },
    [client, renew, followWith, refreshWith],
  );

  const retry = useCallback(
    () => (numeroRef.current ? startScraping(numeroRef.current, optionsRef.current) : Promise.resolve(null)),
    [startScraping],
  );

  const cancel = useCallback(() => {
    controllerRef.current?.abort();
    controllerRef.current = null;
    setState(INITIAL);
  }, []);

  const isLoading = state.status === 'starting' || state.status === 'PENDING' || state.status === 'PROGRESS';
  return useMemo<AsyncScraping>(
    () => ({ ...state, isLoading, startScraping, follow, retry, cancel }),
    [state, isLoading, startScraping, follow, retry, cancel],
  );
}

function asRecordAnswer(answer: Exclude<LookupAnswer, Queued>): RecordAnswer {
  if (answer.status === 'found_existing') {
    return {
      status: 'found_existing', message: answer.message, data: answer.data, fonte: 'banco_local', via: 'banco_local',
      lido_em: answer.lido_em, idade_segundos: answer.idade_segundos, desatualizado: answer.desatualizado,
      ...(answer.task_id ? { task_id: answer.task_id } : {}),
    };
  }
  return { status: 'found_existing', message: answer.message, data: answer.data, fonte: 'sistema_legado',
    via: 'sincrono', fallback_reason: answer.fallback_reason, lido_em: answer.lido_em ?? null, desatualizado: false };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
