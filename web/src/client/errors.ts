import type { ApiErrorBody } from './routes.js';

/** A non-2xx answer of the API. `retryAfterMs` comes from `Retry-After` (429, 503).
 * `body` is the decoded error body the spec declares for the operation (`{detail}`, or the
 * synchronous fallback's `FallbackError`), the raw text when it was not JSON, or null. */
export class ApiError<Body = ApiErrorBody> extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly body: Body | string | null,
    readonly retryAfterMs: number | null,
    message: string,
  ) {
    super(message);
  }

  /** Why it failed, when the API said so: the synchronous fallback's `reason`
   * (`not_found`, `login_failed`, `timeout`, ...). */
  get reason(): string | null {
    const body = this.body as { reason?: unknown } | string | null;
    return body && typeof body === 'object' && typeof body.reason === 'string' ? body.reason : null;
  }

  /** The `detail` of a plain error body (`{detail}`), else null. */
  get detail(): string | null {
    const body = this.body as { detail?: unknown } | string | null;
    return body && typeof body === 'object' && typeof body.detail === 'string' ? body.detail : null;
  }
}

/** One request got no answer within its time (`RegistroClientOptions.timeouts`, or what was
 * left of a wait's time limit). Inside `waitForResult` it is retried like a network error. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly timeoutMs: number,
  ) {
    super(`${method} ${path}: no answer within ${timeoutMs} ms`);
  }
}

/** The task ended in FAILURE; `reason` is the API's (not_found, login_failed, ...);
 * `evidenciaId` the failure's evidence bundle, when one was kept. */
export class TaskFailedError extends Error {
  override readonly name = 'TaskFailedError';
  constructor(
    readonly taskId: string,
    readonly reason: string,
    message: string,
    readonly evidenciaId: string | null = null,
  ) {
    super(message);
  }
}

/** The evidence bundle of a failed lookup: a task's FAILURE, or the synchronous
 * fallback's failure answer (an `ApiError` whose body carries `evidencia_id`). */
export function evidenceIdOf(error: unknown): string | null {
  if (error instanceof TaskFailedError) return error.evidenciaId;
  if (error instanceof ApiError && error.body && typeof error.body === 'object') {
    const id = (error.body as { evidencia_id?: unknown }).evidencia_id;
    return typeof id === 'string' ? id : null;
  }
  return null;
}

/** The task did not finish within its time limit; polling stopped. */
export class TaskTimeoutError extends Error {
  override readonly name = 'TaskTimeoutError';
  constructor(
    readonly taskId: string,
    readonly timeLimitMs: number,
    readonly lastStatus: string | null,
  ) {
    super(
      `task ${taskId} did not finish within its time limit of ${Math.round(timeLimitMs / 1000)} s ` +
        `(last status: ${lastStatus ?? 'none'}); polling stopped`,
    );
  }
}

export function abortError(signal?: AbortSignal): unknown {
  return signal?.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

/** True for the rejection of an aborted wait or request (by name: DOMException classes
 * differ between realms, e.g. a test DOM and Node). */
export function isAbortError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError';
}
