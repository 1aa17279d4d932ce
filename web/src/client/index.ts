export { createRegistroClient } from './client.js';
export type { LookupOptions, RegistroClient, RegistroClientOptions, RequestOptions, WaitOptions } from './client.js';
export { ApiError, TaskFailedError, TaskTimeoutError, evidenceIdOf, isAbortError } from './errors.js';
export { DEFAULT_POLICY, backoffDelay, parseRetryAfter, withJitter } from './timing.js';
export type { PollPolicy } from './timing.js';
export type {
  Evidence, FoundExisting, LookupAnswer, OsData, QueueInfo, QueueStatus, Queued, ScrapeResult, SyncScraped, TaskState,
  TaskStatus,
} from './types.js';
export type { components, paths } from './openapi.js';

/** The API's rule for OS numbers: 1 to 12 digits. */
export function isValidNumeroOS(value: string): boolean {
  return /^\d{1,12}$/.test(value);
}
