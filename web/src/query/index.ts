// TanStack Query (v5) options for the Registro API: the host's own QueryClient does the
// caching, deduplication, devtools and SSR; these factories give it Registro's keys,
// fetchers and polling rules. No hooks and no DOM here: usable on a server too (prefetch
// in a server component), so this entry is not a client module.
import { type InfiniteData, infiniteQueryOptions, mutationOptions, queryOptions } from '@tanstack/react-query';
import {
  ApiError, DEFAULT_POLICY, type Historico, type LookupAnswer, type LookupOptions, type OsData, type PollPolicy,
  type QueueStatus, type RegistroClient, type TaskStatus, backoffDelay, nextHistoricoCursor, withJitter,
} from '../client/index.js';

/** Query keys, all under `['registro']` (`invalidateQueries({ queryKey: registroKeys.all })`). */
export const registroKeys = {
  all: ['registro'] as const,
  status: (taskId: string) => ['registro', 'status', taskId] as const,
  queue: () => ['registro', 'queue'] as const,
  os: (numeroOS: string, options: LookupOptions = {}) =>
    ['registro', 'os', numeroOS, { maxIdade: options.maxIdade ?? null, forcar: options.forcar ?? false }] as const,
  historico: (numeroOS: string, limite?: number) => ['registro', 'historico', numeroOS, { limite: limite ?? null }] as const,
  lookup: () => ['registro', 'lookup'] as const,
};

const FINAL = new Set<TaskStatus['status']>(['SUCCESS', 'FAILURE']);
/** Answers worth asking again (the same rule as `waitForResult`). */
const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

/** TanStack's `retry`: network failures, timeouts and 408/429/5xx, up to `times`. */
export function shouldRetry(times = 3) {
  return (failureCount: number, error: unknown) =>
    failureCount < times && (!(error instanceof ApiError) || RETRYABLE.has(error.status));
}

/** TanStack's `retryDelay`: backoff with jitter, at least `Retry-After` when the API sent one. */
export function retryDelay(policy: PollPolicy = DEFAULT_POLICY, random: () => number = Math.random) {
  return (failureCount: number, error: unknown) => {
    const backedOff = withJitter(backoffDelay(policy, failureCount), policy.jitter, random);
    const floor = error instanceof ApiError ? error.retryAfterMs : null;
    return floor == null ? backedOff : Math.max(backedOff, floor * (1 + policy.jitter * random()));
  };
}

interface PollingQuery {
  state: { data?: TaskStatus | undefined; dataUpdatedAt: number };
}

/** `refetchInterval` for a task's status: false once SUCCESS or FAILURE; else the
 * client's schedule (1 s after a change, x1.5 per poll that brings nothing new, up to 5 s,
 * ±25 % jitter), decided once per answer (TanStack asks again on every render). */
export function statusRefetchInterval(policy: PollPolicy = DEFAULT_POLICY, random: () => number = Math.random) {
  const seen = new WeakMap<object, { at: number; last: TaskStatus; quiet: number; delay: number }>();
  return (query: PollingQuery): number | false => {
    const data = query.state.data;
    if (!data) return withJitter(policy.intervalMs, policy.jitter, random);
    if (FINAL.has(data.status)) return false;
    const entry = seen.get(query);
    if (entry && entry.at === query.state.dataUpdatedAt) return entry.delay;
    const changed = !entry || entry.last.status !== data.status || entry.last.progress !== data.progress ||
      entry.last.message !== data.message;
    const quiet = changed ? 0 : entry.quiet + 1;
    const delay = withJitter(backoffDelay(policy, quiet), policy.jitter, random);
    seen.set(query, { at: query.state.dataUpdatedAt, last: data, quiet, delay });
    return delay;
  };
}

export interface PollingOptions {
  policy?: Partial<PollPolicy>;
  random?: () => number;
}

/** One task's status (`GET scraping-status`), polled with backoff until it ends. */
export function taskStatusQueryOptions(client: RegistroClient, taskId: string, options: PollingOptions = {}) {
  const policy: PollPolicy = { ...DEFAULT_POLICY, ...options.policy };
  return queryOptions<TaskStatus, Error, TaskStatus, ReturnType<typeof registroKeys.status>>({
    queryKey: registroKeys.status(taskId),
    queryFn: ({ signal }) => client.status(taskId, { signal }),
    refetchInterval: statusRefetchInterval(policy, options.random),
    retry: shouldRetry(),
    retryDelay: retryDelay(policy, options.random),
  });
}

/** The queue (`GET queue-status`) every `intervalMs`; TanStack pauses it while the tab is
 * hidden (`refetchIntervalInBackground` stays false) and shares it between components. */
export function queueStatusQueryOptions(client: RegistroClient, { intervalMs = 3000 }: { intervalMs?: number } = {}) {
  return queryOptions<QueueStatus, Error, QueueStatus, ReturnType<typeof registroKeys.queue>>({
    queryKey: registroKeys.queue(),
    queryFn: ({ signal }) => client.queueStatus({ signal }),
    refetchInterval: intervalMs,
    refetchIntervalInBackground: false,
    retry: shouldRetry(),
    retryDelay: retryDelay(),
  });
}

/** The record of one OS, whichever path produced it. */
export interface OsRecord {
  data: OsData;
  /** `banco_local` (stored), `fila` (a queued task followed to its end), `sincrono`. */
  via: 'banco_local' | 'fila' | 'sincrono';
  /** When it was read from the legacy system (ISO-8601, UTC). */
  lidoEm: string | null;
  /** A stored record older than the `maxIdade` asked; its refresh is `refreshTaskId`. */
  desatualizado: boolean;
  refreshTaskId: string | null;
}

/** One OS's record: the lookup, and when it was queued the task followed to its end
 * (`waitForResult`, aborted with the query). */
export function osQueryOptions(client: RegistroClient, numeroOS: string, options: LookupOptions & { staleTimeMs?: number } = {}) {
  const { staleTimeMs = 60_000, ...lookup } = options;
  return queryOptions<OsRecord, Error, OsRecord, ReturnType<typeof registroKeys.os>>({
    queryKey: registroKeys.os(numeroOS, lookup),
    queryFn: async ({ signal }) => {
      const answer = await client.lookup(numeroOS, { ...lookup, signal });
      if (answer.status === 'queued') {
        const result = await client.waitForResult(answer.task_id, { signal });
        return { data: result.data, via: 'fila', lidoEm: result.lido_em ?? null, desatualizado: false, refreshTaskId: null };
      }
      if (answer.status === 'found_existing') {
        return { data: answer.data, via: 'banco_local', lidoEm: answer.lido_em, desatualizado: answer.desatualizado,
          refreshTaskId: answer.desatualizado ? answer.task_id ?? null : null };
      }
      return { data: answer.data, via: 'sincrono', lidoEm: answer.lido_em ?? null, desatualizado: false, refreshTaskId: null };
    },
    staleTime: staleTimeMs,
    retry: shouldRetry(),
    retryDelay: retryDelay(),
  });
}

export interface LookupVariables extends LookupOptions {
  numeroOS: string;
}

/** The lookup (`POST buscar-os-async`) as a mutation: the API's answer unchanged
 * (`found_existing`, `queued` with its `task_id`, or the synchronous `success`). */
export function lookupMutationOptions(client: RegistroClient) {
  return mutationOptions<LookupAnswer, Error, LookupVariables>({
    mutationKey: registroKeys.lookup(),
    mutationFn: ({ numeroOS, ...options }) => client.lookup(numeroOS, options),
  });
}

/** An OS's history, page by page, newest first (`GET historico`, `antes_de` cursor). */
export function historicoInfiniteQueryOptions(client: RegistroClient, numeroOS: string, { limite }: { limite?: number } = {}) {
  return infiniteQueryOptions<Historico, Error, InfiniteData<Historico, number | null>,
    ReturnType<typeof registroKeys.historico>, number | null>({
    queryKey: registroKeys.historico(numeroOS, limite),
    queryFn: ({ pageParam, signal }) => client.historico(numeroOS, { limite, antesDe: pageParam ?? undefined, signal }),
    initialPageParam: null,
    getNextPageParam: (last) => nextHistoricoCursor(last),
    retry: shouldRetry(),
    retryDelay: retryDelay(),
  });
}
