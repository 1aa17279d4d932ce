export { DEFAULT_TIMEOUTS, createRegistroClient, nextHistoricoCursor } from './client.js';
export type {
  HistoricoOptions, LookupOptions, RegistroClient, RegistroClientOptions, RequestOptions, Timeouts, WaitOptions,
} from './client.js';
export { ApiError, RequestTimeoutError, TaskFailedError, TaskTimeoutError, evidenceIdOf, isAbortError } from './errors.js';
export { ROUTES, pathOf } from './routes.js';
export type {
  ApiErrorBody, CallArgs, ErrorBodyOf, OkBody, OperationId, PathParams, QueryParams, RouteOf, RoutedOperation,
} from './routes.js';
export { DEFAULT_POLICY, backoffDelay, parseRetryAfter, withJitter } from './timing.js';
export type { PollPolicy } from './timing.js';
export type {
  Alteracao, Evidence, FoundExisting, Historico, LookupAnswer, OsData, QueueInfo, QueueStatus, Queued, ScrapeResult, SyncScraped, TaskState,
  TaskStatus,
} from './types.js';
export type { components, operations, paths } from './openapi.js';

/** The API's rule for OS numbers: 1 to 12 digits. */
export function isValidNumeroOS(value: string): boolean {
  return /^\d{1,12}$/.test(value);
}
