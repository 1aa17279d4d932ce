// The @registro/client/query factories with a real TanStack QueryClient (the API scripted).
import { QueryClient, QueryClientProvider, useInfiniteQuery, useMutation, useQuery } from '@tanstack/react-query';
import { act, cleanup, renderHook, waitFor } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, type Historico, createRegistroClient } from '../src/client';
import {
  historicoInfiniteQueryOptions, lookupMutationOptions, osQueryOptions, queueStatusQueryOptions, registroKeys, retryDelay,
  statusRefetchInterval, taskStatusQueryOptions,
} from '../src/query';
import { type Answer, RECORD, SUCCESS, scriptedFetch, taskStatus } from './fakeApi';

afterEach(cleanup);

function setup(route: (url: string, method: string) => Answer) {
  const api = scriptedFetch((url, method) => route(url, method));
  const client = createRegistroClient({ baseUrl: 'http://api.test', fetch: api.fetch, poll: { intervalMs: 10, maxIntervalMs: 20 } });
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const wrapper = ({ children }: { children?: ReactNode }) => <QueryClientProvider client={queryClient}>{children}</QueryClientProvider>;
  return { client, queryClient, wrapper, calls: api.calls };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('taskStatusQueryOptions', () => {
  it('polls the status with backoff and stops on SUCCESS', async () => {
    const script = [taskStatus('PENDING', 0), taskStatus('PROGRESS', 50), SUCCESS];
    let n = 0;
    const { client, wrapper, calls } = setup(() => ({ body: script[Math.min(n++, script.length - 1)] }));
    const { result } = renderHook(
      () => useQuery(taskStatusQueryOptions(client, 'scraping_12345', { policy: { intervalMs: 10, maxIntervalMs: 20 } })),
      { wrapper });
    await waitFor(() => expect(result.current.data?.status).toBe('SUCCESS'), { timeout: 2_000 });
    expect(result.current.data?.result?.data).toEqual(RECORD);
    const count = calls.length;
    await pause(150);
    expect(calls).toHaveLength(count);
    expect(count).toBe(3);
  });

  it('the interval: the schedule per answer, the same value when asked again, false on a final state', () => {
    const interval = statusRefetchInterval({ intervalMs: 1000, maxIntervalMs: 5000, backoff: 1.5, jitter: 0.25 }, () => 0.5);
    const query = { state: { data: taskStatus('PROGRESS', 10), dataUpdatedAt: 1 } };
    const delays = [interval(query), interval(query)];
    for (let at = 2; at <= 6; at += 1) {
      query.state.dataUpdatedAt = at;
      delays.push(interval(query));
    }
    query.state = { data: taskStatus('PROGRESS', 20), dataUpdatedAt: 7 };
    delays.push(interval(query));
    expect(delays).toEqual([1000, 1000, 1500, 2250, 3375, 5000, 5000, 1000]);
    query.state = { data: taskStatus('FAILURE', 100), dataUpdatedAt: 8 };
    expect(interval(query)).toBe(false);
  });

  it('retries wait at least Retry-After', () => {
    const delay = retryDelay({ intervalMs: 1000, maxIntervalMs: 5000, backoff: 1.5, jitter: 0.25 }, () => 0.5);
    expect(delay(1, new TypeError('fetch failed'))).toBe(1500);
    expect(delay(1, new ApiError(503, { detail: 'busy' }, 10_000, 'x'))).toBe(11_250);
  });
});

describe('queueStatusQueryOptions and osQueryOptions', () => {
  it('the queue: its key, refetched on its interval, not in the background', async () => {
    const { client, wrapper, calls } = setup(() => ({ body: { status: 'success', celery_available: true,
      queue_info: { active_tasks: 0, scheduled_tasks: 2, total_queue: 2, workers_online: 1 } } }));
    const options = queueStatusQueryOptions(client, { intervalMs: 30 });
    expect(options.queryKey).toEqual(registroKeys.queue());
    expect(options.refetchIntervalInBackground).toBe(false);
    const { result } = renderHook(() => useQuery(options), { wrapper });
    await waitFor(() => expect(result.current.data?.queue_info.scheduled_tasks).toBe(2));
    await waitFor(() => expect(calls.length).toBeGreaterThanOrEqual(3), { timeout: 2_000 });
  });

  it('a stored OS answers at once; a queued one is followed to its record', async () => {
    const { client, wrapper, calls } = setup((url, method) => {
      if (method === 'POST' && url.includes('/1?')) {
        return { body: { status: 'found_existing', message: '', data: RECORD, fonte: 'banco_local',
          lido_em: '2026-12-01T00:00:00Z', idade_segundos: 5, desatualizado: false } };
      }
      if (method === 'POST') {
        return { body: { status: 'queued', message: '', task_id: 'scraping_2', estimated_time: '6-15 segundos',
          instructions: { check_status: '/x' }, via: 'fila', already_queued: false } };
      }
      return { body: { ...SUCCESS, task_id: 'scraping_2' } };
    });
    const stored = renderHook(() => useQuery(osQueryOptions(client, '1', { maxIdade: 60 })), { wrapper });
    await waitFor(() => expect(stored.result.current.data).toMatchObject({ via: 'banco_local', data: RECORD,
      lidoEm: '2026-12-01T00:00:00Z', desatualizado: false }));
    const queued = renderHook(() => useQuery(osQueryOptions(client, '2')), { wrapper });
    await waitFor(() => expect(queued.result.current.data).toMatchObject({ via: 'fila', data: RECORD }));
    expect(calls.map((c) => `${c.method} ${c.url.replace('http://api.test/api/desenvolvimento/', '')}`)).toEqual([
      'POST buscar-os-async/1?max_idade=60', 'POST buscar-os-async/2', 'GET scraping-status/scraping_2',
    ]);
  });
});

describe('lookupMutationOptions and historicoInfiniteQueryOptions', () => {
  it('the lookup mutation sends the OS and its options, and hands the answer back', async () => {
    const { client, wrapper, calls } = setup(() => ({ body: { status: 'queued', message: '', task_id: 'scraping_9',
      estimated_time: '6-15 segundos', instructions: { check_status: '/x' }, via: 'fila', already_queued: false } }));
    const { result } = renderHook(() => useMutation(lookupMutationOptions(client)), { wrapper });
    let answer: unknown;
    await act(async () => { answer = await result.current.mutateAsync({ numeroOS: '9', forcar: true }); });
    expect(answer).toMatchObject({ status: 'queued', task_id: 'scraping_9' });
    expect(calls[0]!.url).toBe('http://api.test/api/desenvolvimento/buscar-os-async/9?forcar=true');
  });

  it('the history pages through antes_de until proxima_pagina is null', async () => {
    const page = (ids: number[], next: string | null): Historico => ({ numero_os: '5', total: 3, proxima_pagina: next,
      alteracoes: ids.map((id) => ({ id, campo: 'cliente', valor_anterior: 'a', valor_novo: 'b', observado_em: '2026-12-01T00:00:00Z' })) });
    const { client, wrapper, calls } = setup((url) => ({
      body: url.includes('antes_de=42') ? page([41], null) : page([43, 42], '/api/desenvolvimento/historico/5?limite=2&antes_de=42'),
    }));
    const { result } = renderHook(() => useInfiniteQuery(historicoInfiniteQueryOptions(client, '5', { limite: 2 })), { wrapper });
    await waitFor(() => expect(result.current.hasNextPage).toBe(true));
    await act(async () => { await result.current.fetchNextPage(); });
    await waitFor(() => expect(result.current.hasNextPage).toBe(false));
    expect(result.current.data?.pages.flatMap((p) => p.alteracoes.map((a) => a.id))).toEqual([43, 42, 41]);
    expect(calls.map((c) => c.url.split('?')[1])).toEqual(['limite=2', 'limite=2&antes_de=42']);
  });
});
