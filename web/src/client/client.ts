import { ApiError, RequestTimeoutError, TaskFailedError, TaskTimeoutError, abortError } from './errors.js';
import { type CallArgs, type OkBody, type RoutedOperation, ROUTES, pathOf } from './routes.js';
import { DEFAULT_POLICY, type PollPolicy, backoffDelay, parseRetryAfter, sleep, withJitter } from './timing.js';
import type { Evidence, Historico, LookupAnswer, QueueStatus, ScrapeResult, TaskStatus } from './types.js';

export interface RegistroClientOptions {
  /** Where the API is, e.g. `https://erp.example.com/registro` or `''` for the same origin. */
  baseUrl: string;
  /** Headers for every request, asked anew each time (a session proxy, a rotating key):
   * `() => ({ Authorization: 'Bearer ' + key })`. */
  headers?: () => HeadersInit | Promise<HeadersInit>;
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Give up on a task after this long (default 300 000 ms, the task's hard time limit
   * in the guide and in `REGISTRO_TASK_TIME_LIMIT_S`). */
  timeLimitMs?: number;
  /** Poll timing (interval, backoff, jitter). */
  poll?: Partial<PollPolicy>;
  /** Source of the jitter; tests pass their own. */
  random?: () => number;
  /** How long one request may take before it is given up (`RequestTimeoutError`):
   * `request` for every GET (default 15 000 ms), `lookup` for `POST buscar-os-async`
   * (default 120 000 ms: it may be the synchronous fallback's whole scrape). Inside
   * `waitForResult` a status request also ends with the wait's time limit (the last look,
   * at the deadline, gets one poll interval). */
  timeouts?: Partial<Timeouts>;
}

export interface Timeouts {
  request: number;
  lookup: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = { request: 15_000, lookup: 120_000 };

export interface RequestOptions {
  signal?: AbortSignal;
  /** This request's own time (else the client's `timeouts`). */
  timeoutMs?: number;
}

export interface HistoricoOptions extends RequestOptions {
  /** Changes per page (the API's default when absent). */
  limite?: number;
  /** Only changes older than this change id: the cursor of the next page
   * (`nextHistoricoCursor(page)`). */
  antesDe?: number;
}

export interface LookupOptions {
  /** Scrape again even if the OS is stored. */
  forcar?: boolean;
  /** Oldest stored record acceptable, in seconds since it was read (`lido_em`). */
  maxIdade?: number;
}

export interface WaitOptions extends RequestOptions {
  /** Called with each new status (a change of state, progress or message). */
  onProgress?: (status: TaskStatus) => void;
}

export interface RegistroClient {
  /** `POST buscar-os-async`: the stored record, a queued task, or a synchronous scrape.
   * `maxIdade` (seconds): an older stored record comes back `desatualizado`, with the
   * `task_id` of its refresh. */
  lookup(numeroOS: string, options?: RequestOptions & LookupOptions): Promise<LookupAnswer>;
  /** `GET scraping-status` once. */
  status(taskId: string, options?: RequestOptions): Promise<TaskStatus>;
  /** `GET queue-status`. */
  queueStatus(options?: RequestOptions): Promise<QueueStatus>;
  /** `GET historico/{numero_os}`: one page of the changes later reads found in a stored
   * OS, newest first. The next (older) page: `antesDe: nextHistoricoCursor(page)`. */
  historico(numeroOS: string, options?: HistoricoOptions): Promise<Historico>;
  /** Every page of the history, newest first, fetched as it is iterated. */
  historicoPages(numeroOS: string, options?: Omit<HistoricoOptions, 'antesDe'>): AsyncGenerator<Historico, void, undefined>;
  /** Poll until SUCCESS (resolves with the result), FAILURE (`TaskFailedError`; also a
   * SUCCESS that carries no result, reason `no_result`), the time limit
   * (`TaskTimeoutError`) or abort. Concurrent waits for the same task share one
   * poll loop; it stops when the last waiter aborts. */
  waitForResult(taskId: string, options?: WaitOptions): Promise<ScrapeResult>;
  /** `GET evidencias/{id}`: a failed scrape's evidence (reason, URL, title, step log,
   * console errors, parts). The id: `evidenceIdOf(error)` of a failure. */
  evidence(evidenciaId: string, options?: RequestOptions): Promise<Evidence>;
  /** `GET evidencias/{id}/screenshot.png` with the same headers (the key): a `Blob` to
   * show through `URL.createObjectURL` (an `<img src>` cannot send the key). */
  evidenceScreenshot(evidenciaId: string, options?: RequestOptions): Promise<Blob>;
  readonly timeLimitMs: number;
  readonly timeouts: Timeouts;
}

/** Answers worth asking again after a pause; any other error ends the wait. */
const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

interface SharedWait {
  promise: Promise<ScrapeResult>;
  controller: AbortController;
  listeners: Set<(status: TaskStatus) => void>;
  last: TaskStatus | null;
}

/** The cursor (`antes_de`) of the page after `page`, from its `proxima_pagina`; null on
 * the last page. */
export function nextHistoricoCursor(page: Pick<Historico, 'proxima_pagina'>): number | null {
  if (!page.proxima_pagina) return null;
  const value = new URL(page.proxima_pagina, 'http://registro.invalid').searchParams.get('antes_de');
  return value !== null && /^\d+$/.test(value) ? Number(value) : null;
}

export function createRegistroClient(options: RegistroClientOptions): RegistroClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const policy: PollPolicy = { ...DEFAULT_POLICY, ...options.poll };
  const timeouts: Timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const random = options.random ?? Math.random;
  const timeLimitMs = options.timeLimitMs ?? 300_000;
  const waits = new Map<string, SharedWait>();

  /** One request of `op`: its JSON (or, with `as: 'blob'`, its body as a Blob), an
   * `ApiError` with the decoded error body when it is not 2xx, a `RequestTimeoutError`
   * when it (body included) takes longer than `timeoutMs`. */
  async function call<K extends RoutedOperation>(
    op: K, args: CallArgs<K>, { signal, timeoutMs, as = 'json' }: RequestOptions & { as?: 'json' | 'blob' },
  ): Promise<unknown> {
    const { method } = ROUTES[op];
    const path = pathOf(op, args);
    const limit = timeoutMs ?? (op === 'buscar_os_async' ? timeouts.lookup : timeouts.request);
    if (signal?.aborted) throw abortError(signal);
    const controller = new AbortController();
    const timeout = new RequestTimeoutError(method, path, limit);
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(timeout), limit);
    try {
      const headers = new Headers(options.headers ? await options.headers() : undefined);
      headers.set('Accept', as === 'blob' ? 'image/png' : 'application/json');
      const doFetch = options.fetch ?? globalThis.fetch;
      const response = await doFetch(baseUrl + path, { method, headers, signal: controller.signal });
      if (!response.ok) {
        const body = decode(await response.text());
        const retryAfterMs = parseRetryAfter(response.headers.get('Retry-After'));
        throw new ApiError(response.status, body as ApiError['body'], retryAfterMs,
          `${method} ${path}: HTTP ${response.status}${describeBody(body)}`);
      }
      return as === 'blob' ? await response.blob() : decode(await response.text());
    } catch (error) {
      if (controller.signal.reason === timeout && !signal?.aborted) throw timeout;
      throw error;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  function json<K extends RoutedOperation>(op: K, args: CallArgs<K>, opts: RequestOptions = {}): Promise<OkBody<K>> {
    return call(op, args, opts) as Promise<OkBody<K>>;
  }

  async function poll(taskId: string, shared: SharedWait): Promise<ScrapeResult> {
    const { signal } = shared.controller;
    const deadline = Date.now() + timeLimitMs;
    let quietPolls = 0;
    let failedPolls = 0;
    const emit = (status: TaskStatus) => {
      shared.last = status;
      for (const listener of shared.listeners) listener(status);
    };
    for (;;) {
      let delay: number;
      try {
        // Within what is left of the time limit; the last look, at the deadline, gets one
        // poll interval.
        const timeoutMs = Math.min(timeouts.request, Math.max(deadline - Date.now(), policy.intervalMs));
        const current = await json('scraping_status', { path: { task_id: taskId } }, { signal, timeoutMs });
        failedPolls = 0;
        const last = shared.last;
        const changed = !last || last.status !== current.status || last.progress !== current.progress ||
          last.message !== current.message;
        if (changed) emit(current);
        if (current.status === 'SUCCESS') {
          if (current.result) return current.result;
          throw new TaskFailedError(taskId, 'no_result', `task ${taskId} ended in SUCCESS without a result`);
        }
        if (current.status === 'FAILURE') {
          throw new TaskFailedError(taskId, current.reason ?? 'internal_error', current.message,
            current.evidencia_id ?? null);
        }
        quietPolls = changed ? 0 : quietPolls + 1;
        delay = withJitter(backoffDelay(policy, quietPolls), policy.jitter, random);
      } catch (error) {
        if (signal.aborted) throw abortError(signal);
        if (error instanceof TaskFailedError) throw error;
        if (error instanceof ApiError && !RETRYABLE.has(error.status)) throw error;
        // Network failure, a request timeout or a retryable answer: back off; Retry-After
        // is a floor, and the jitter only ever adds to it.
        failedPolls += 1;
        const backedOff = withJitter(backoffDelay(policy, failedPolls), policy.jitter, random);
        const retryAfter = error instanceof ApiError ? error.retryAfterMs : null;
        delay = retryAfter == null ? backedOff : retryAfter * (1 + policy.jitter * random());
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new TaskTimeoutError(taskId, timeLimitMs, shared.last?.status ?? null);
      await sleep(Math.min(delay, remaining), signal);
    }
  }

  function waitForResult(taskId: string, { signal, onProgress }: WaitOptions = {}): Promise<ScrapeResult> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    let shared = waits.get(taskId);
    if (!shared) {
      const created: SharedWait = { controller: new AbortController(), listeners: new Set(), last: null,
        promise: Promise.resolve(null as never) };
      created.promise = poll(taskId, created).finally(() => {
        if (waits.get(taskId) === created) waits.delete(taskId);
      });
      created.promise.catch(() => undefined); // each waiter handles the outcome itself
      waits.set(taskId, created);
      shared = created;
    }
    const wait = shared;
    const listener = (status: TaskStatus) => onProgress?.(status);
    wait.listeners.add(listener);
    if (wait.last) onProgress?.(wait.last);
    return new Promise<ScrapeResult>((resolve, reject) => {
      const leave = () => {
        wait.listeners.delete(listener);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        leave();
        if (wait.listeners.size === 0) {
          wait.controller.abort();
          if (waits.get(taskId) === wait) waits.delete(taskId);
        }
        reject(abortError(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      wait.promise.then(
        (result) => { leave(); resolve(result); },
        (error: unknown) => { leave(); reject(error); },
      );
    });
  }

  async function* historicoPages(
    numeroOS: string, { limite, ...rest }: Omit<HistoricoOptions, 'antesDe'> = {},
  ): AsyncGenerator<Historico, void, undefined> {
    let antesDe: number | null | undefined;
    do {
      const page = await json('historico_os', { path: { numero_os: numeroOS }, query: { limite, antes_de: antesDe } }, rest);
      yield page;
      antesDe = nextHistoricoCursor(page);
    } while (antesDe !== null);
  }

  return {
    timeLimitMs,
    timeouts,
    lookup(numeroOS, { forcar, maxIdade, ...rest } = {}) {
      const query = { forcar: forcar ? true : undefined, max_idade: maxIdade };
      return json('buscar_os_async', { path: { numero_os: numeroOS }, query }, rest);
    },
    status(taskId, opts) {
      return json('scraping_status', { path: { task_id: taskId } }, opts);
    },
    queueStatus(opts) {
      return json('queue_status', {}, opts);
    },
    historico(numeroOS, { limite, antesDe, ...rest } = {}) {
      return json('historico_os', { path: { numero_os: numeroOS }, query: { limite, antes_de: antesDe } }, rest);
    },
    historicoPages,
    waitForResult,
    evidence(evidenciaId, opts) {
      return json('evidencia', { path: { evidencia_id: evidenciaId } }, opts);
    },
    evidenceScreenshot(evidenciaId, opts = {}) {
      return call('evidencia_screenshot', { path: { evidencia_id: evidenciaId } }, { ...opts, as: 'blob' }) as Promise<Blob>;
    },
  };
}

function decode(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

function describeBody(body: unknown): string {
  if (body && typeof body === 'object') {
    const { message, detail } = body as { message?: unknown; detail?: unknown };
    if (typeof message === 'string') return `: ${message}`;
    if (typeof detail === 'string') return `: ${detail}`;
    if (detail !== undefined) return `: ${JSON.stringify(detail)}`;
  }
  return typeof body === 'string' && body ? `: ${body.slice(0, 200)}` : '';
}
