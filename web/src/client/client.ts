import { ApiError, TaskFailedError, TaskTimeoutError, abortError } from './errors.js';
import { DEFAULT_POLICY, type PollPolicy, backoffDelay, parseRetryAfter, sleep, withJitter } from './timing.js';
import type { Evidence, LookupAnswer, QueueStatus, ScrapeResult, TaskStatus } from './types.js';

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
}

export interface RequestOptions {
  signal?: AbortSignal;
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
  /** Poll until SUCCESS (resolves with the result), FAILURE (`TaskFailedError`), the time
   * limit (`TaskTimeoutError`) or abort. Concurrent waits for the same task share one
   * poll loop; it stops when the last waiter aborts. */
  waitForResult(taskId: string, options?: WaitOptions): Promise<ScrapeResult>;
  /** `GET evidencias/{id}`: a failed scrape's evidence (reason, URL, title, step log,
   * console errors, parts). The id: `evidenceIdOf(error)` of a failure. */
  evidence(evidenciaId: string, options?: RequestOptions): Promise<Evidence>;
  /** `GET evidencias/{id}/screenshot.png` with the same headers (the key): a `Blob` to
   * show through `URL.createObjectURL` (an `<img src>` cannot send the key). */
  evidenceScreenshot(evidenciaId: string, options?: RequestOptions): Promise<Blob>;
  readonly timeLimitMs: number;
}

const API = '/api/desenvolvimento';
/** Answers worth asking again after a pause; any other error ends the wait. */
const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

interface SharedWait {
  promise: Promise<ScrapeResult>;
  controller: AbortController;
  listeners: Set<(status: TaskStatus) => void>;
  last: TaskStatus | null;
}

export function createRegistroClient(options: RegistroClientOptions): RegistroClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const policy: PollPolicy = { ...DEFAULT_POLICY, ...options.poll };
  const random = options.random ?? Math.random;
  const timeLimitMs = options.timeLimitMs ?? 300_000;
  const waits = new Map<string, SharedWait>();

  /** The answer, or an `ApiError` (with the decoded error body) when it is not 2xx. */
  async function send(method: 'GET' | 'POST', path: string, accept: string, signal?: AbortSignal): Promise<Response> {
    const headers = new Headers(options.headers ? await options.headers() : undefined);
    headers.set('Accept', accept);
    const doFetch = options.fetch ?? globalThis.fetch;
    const response = await doFetch(baseUrl + path, { method, headers, signal });
    if (!response.ok) {
      const body = decode(await response.text());
      const retryAfterMs = parseRetryAfter(response.headers.get('Retry-After'));
      throw new ApiError(response.status, body, retryAfterMs,
        `${method} ${path}: HTTP ${response.status}${describeBody(body)}`);
    }
    return response;
  }

  async function request<T>(method: 'GET' | 'POST', path: string, signal?: AbortSignal): Promise<T> {
    const response = await send(method, path, 'application/json', signal);
    return decode(await response.text()) as T;
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
        const current = await request<TaskStatus>('GET', `${API}/scraping-status/${encodeURIComponent(taskId)}`, signal);
        failedPolls = 0;
        const last = shared.last;
        const changed = !last || last.status !== current.status || last.progress !== current.progress ||
          last.message !== current.message;
        if (changed) emit(current);
        if (current.status === 'SUCCESS' && current.result) return current.result;
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
        // Network failure or a retryable answer: back off; Retry-After is a floor, and
        // the jitter only ever adds to it.
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

  return {
    timeLimitMs,
    lookup(numeroOS, { signal, forcar, maxIdade } = {}) {
      const params = new URLSearchParams();
      if (forcar) params.set('forcar', 'true');
      if (maxIdade !== undefined) params.set('max_idade', String(maxIdade));
      const query = params.size ? `?${params}` : '';
      return request('POST', `${API}/buscar-os-async/${encodeURIComponent(numeroOS)}${query}`, signal);
    },
    status(taskId, { signal } = {}) {
      return request('GET', `${API}/scraping-status/${encodeURIComponent(taskId)}`, signal);
    },
    queueStatus({ signal } = {}) {
      return request('GET', `${API}/queue-status`, signal);
    },
    waitForResult,
    evidence(evidenciaId, { signal } = {}) {
      return request('GET', `${API}/evidencias/${encodeURIComponent(evidenciaId)}`, signal);
    },
    async evidenceScreenshot(evidenciaId, { signal } = {}) {
      const path = `${API}/evidencias/${encodeURIComponent(evidenciaId)}/screenshot.png`;
      return (await send('GET', path, 'image/png', signal)).blob();
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
