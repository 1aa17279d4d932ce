/** A non-2xx answer of the API. `retryAfterMs` comes from `Retry-After` (429, 503). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly retryAfterMs: number | null,
    message: string,
  ) {
    super(message);
  }
}

/** The task ended in FAILURE; `reason` is the API's (not_found, login_failed, ...). */
export class TaskFailedError extends Error {
  override readonly name = 'TaskFailedError';
  constructor(
    readonly taskId: string,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
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
