// Delays between polls: backoff while nothing changes, jitter so that many pages do not
// poll in lockstep, and Retry-After from the server as a floor.
import { abortError } from './errors.js';

export interface PollPolicy {
  /** First delay between polls, and the delay after every change of the task. */
  intervalMs: number;
  /** Longest delay between polls (and between retries after errors). */
  maxIntervalMs: number;
  /** Growth of the delay per poll that brings no change (or per failed request). */
  backoff: number;
  /** Fraction of the delay drawn at random, each way: 0.25 spreads it over 0.75x..1.25x. */
  jitter: number;
}

export const DEFAULT_POLICY: PollPolicy = { intervalMs: 1000, maxIntervalMs: 5000, backoff: 1.5, jitter: 0.25 };

/** The delay before poll number `quietPolls + 1`, without jitter. */
export function backoffDelay(policy: PollPolicy, quietPolls: number): number {
  return Math.min(policy.maxIntervalMs, policy.intervalMs * policy.backoff ** quietPolls);
}

/** `delay` spread uniformly over [1 - jitter, 1 + jitter] x delay. */
export function withJitter(delay: number, jitter: number, random: () => number): number {
  return Math.max(0, delay * (1 - jitter + 2 * jitter * random()));
}

/** Retry-After (seconds or an HTTP date) in milliseconds; null when absent or invalid. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value == null || value.trim() === '') return null;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** Resolves after `ms`, rejects at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
