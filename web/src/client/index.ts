export { createRegistroClient } from './client';
export type { LookupOptions, RegistroClient, RegistroClientOptions, RequestOptions, WaitOptions } from './client';
export { ApiError, TaskFailedError, TaskTimeoutError, evidenceIdOf, isAbortError } from './errors';
export { DEFAULT_POLICY, backoffDelay, parseRetryAfter, withJitter } from './timing';
export type { PollPolicy } from './timing';
export type {
  Evidence, FoundExisting, LookupAnswer, OsData, QueueInfo, QueueStatus, Queued, ScrapeResult, SyncScraped, TaskState,
  TaskStatus,
} from './types';
export type { components, paths } from './openapi';

/** The API's rule for OS numbers: 1 to 12 digits. */
export function isValidNumeroOS(value: string): boolean {
  return /^\d{1,12}$/.test(value);
}
