import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ApiError, type ApiErrorBody, type Historico, RequestTimeoutError, type RouteOf, TaskFailedError, TaskTimeoutError,
  type components, createRegistroClient, evidenceIdOf, isAbortError, nextHistoricoCursor, parseRetryAfter, pathOf,
  withJitter,
} from '../src/client';
import { EVIDENCIA_ID, PNG, RECORD, SUCCESS, gaps, scriptedFetch, taskStatus } from './fakeApi';

const BASE = 'http://api.test';
const half = () => 0.5; // jitter factor exactly 1: the bare schedule

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.setSystemTime(0);
});
afterEach(() => vi.useRealTimers());

/** Answers the status endpoint from `script` (the last entry repeats). */
function statusScript(script: Parameters<typeof scriptedFetch>[0] extends (...a: never[]) => infer A ? A[] : never) {
  return scriptedFetch((_url, _method, n) => script[Math.min(n, script.length) - 1]!);
}

describe('requests', () => {
  it('joins the base URL, asks the headers function each time, encodes the OS number', async () => {
    const { fetch, calls } = scriptedFetch(() => ({ body: { status: 'found_existing', message: '', data: RECORD, fonte: 'banco_local' } }));
    let n = 0;
    const client = createRegistroClient({ baseUrl: `${BASE}/`, fetch, headers: () => ({ Authorization: `Bearer k${++n}` }) });
    await client.lookup('12345');
    await client.lookup('1 2', { forcar: true });
    await client.lookup('3', { maxIdade: 3600 });
    await client.lookup('4', { forcar: true, maxIdade: 0 });
    expect(calls.map((c) => [c.method, c.url, c.headers.get('Authorization')])).toEqual([
      ['POST', `${BASE}/api/desenvolvimento/buscar-os-async/12345`, 'Bearer k1'],
      ['POST', `${BASE}/api/desenvolvimento/buscar-os-async/1%202?forcar=true`, 'Bearer k2'],
      ['POST', `${BASE}/api/desenvolvimento/buscar-os-async/3?max_idade=3600`, 'Bearer k3'],
      ['POST', `${BASE}/api/desenvolvimento/buscar-os-async/4?forcar=true&max_idade=0`, 'Bearer k4'],
    ]);
  });

  it('turns an error answer into an ApiError with the body message and Retry-After', async () => {
    const { fetch } = scriptedFetch(() => ({ status: 503, headers: { 'Retry-After': '10' },
      body: { status: 'busy', message: 'limite de scraping síncrono atingido' } }));
    const client = createRegistroClient({ baseUrl: BASE, fetch });
    const error = await client.lookup('1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 503, retryAfterMs: 10_000 });
    expect((error as ApiError).message).toContain('limite de scraping síncrono atingido');
  });
});

describe('waitForResult', () => {
  it('backs off while nothing changes, up to the maximum, and starts over on a change', async () => {
    const script = [...Array(7).fill({ body: taskStatus('PROGRESS', 40) }), { body: taskStatus('PROGRESS', 60) },
      { body: taskStatus('PROGRESS', 60) }, { body: SUCCESS }];
    const { fetch, calls } = statusScript(script);
    const client = createRegistroClient({ baseUrl: BASE, fetch, random: half });
    const done = client.waitForResult('scraping_12345');
    await vi.advanceTimersByTimeAsync(60_000);
    await expect(done).resolves.toMatchObject({ data: RECORD });
    expect(gaps(calls)).toEqual([1000, 1500, 2250, 3375, 5000, 5000, 5000, 1000, 1500]);
  });

  it('spreads the delays with jitter, within ±25%', async () => {
    const draws = [0, 1, 0.25, 0.75];
    let i = 0;
    const { fetch, calls } = statusScript([...Array(4).fill({ body: taskStatus('PENDING', 0) }), { body: SUCCESS }]);
    const client = createRegistroClient({ baseUrl: BASE, fetch, random: () => draws[i++ % draws.length]!,
      poll: { backoff: 1 } });
    const done = client.waitForResult('scraping_12345');
    await vi.advanceTimersByTimeAsync(10_000);
    await done;
    expect(gaps(calls)).toEqual([750, 1250, 875, 1125]);
    for (let k = 0; k < 200; k++) {
      const d = withJitter(1000, 0.25, Math.random);
      expect(d).toBeGreaterThanOrEqual(750);
      expect(d).toBeLessThanOrEqual(1250);
    }
  });

  it('two pages with their own randomness do not poll in lockstep', async () => {
    const times: number[][] = [];
    for (const seed of [0.1, 0.9]) {
      const { fetch, calls } = statusScript([...Array(5).fill({ body: taskStatus('PENDING', 0) }), { body: SUCCESS }]);
      const client = createRegistroClient({ baseUrl: BASE, fetch, random: () => seed });
      vi.setSystemTime(0);
      const done = client.waitForResult('scraping_12345');
      await vi.advanceTimersByTimeAsync(30_000);
      await done;
      times.push(calls.map((c) => c.at));
    }
    expect(times[0]!.slice(1).every((t, k) => t !== times[1]![k + 1])).toBe(true);
  });

  it.each([429, 503])('waits at least Retry-After after a %i, then carries on', async (code) => {
    const { fetch, calls } = statusScript([
      { body: taskStatus('PROGRESS', 10) },
      { status: code, headers: { 'Retry-After': '7' }, body: { detail: 'slow down' } },
      { body: SUCCESS },
    ]);
    const client = createRegistroClient({ baseUrl: BASE, fetch, random: () => 1 });
    const done = client.waitForResult('scraping_12345');
    await vi.advanceTimersByTimeAsync(6_999 + 1_250);
    expect(calls).toHaveLength(2); // 1 250 ms (jittered 1 s), then nothing during the 7 s
    await vi.advanceTimersByTimeAsync(20_000);
    await expect(done).resolves.toMatchObject({ scraped_fields: 48 });
    expect(gaps(calls)).toEqual([1250, 7000 * 1.25]); // jitter only adds to Retry-After
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('5')).toBe(5000);
    expect(parseRetryAfter(new Date(30_000).toUTCString(), 0)).toBe(30_000);
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter(null)).toBeNull();
  });

  it('retries network failures and 5xx with growing delays', async () => {
    const { fetch, calls } = statusScript([{ networkError: true }, { status: 502, body: {} }, { networkError: true },
      { body: SUCCESS }]);
    const client = createRegistroClient({ baseUrl: BASE, fetch, random: half });
    const done = client.waitForResult('scraping_12345');
    await vi.advanceTimersByTimeAsync(30_000);
    await done;
    expect(gaps(calls)).toEqual([1500, 2250, 3375]);
  });

  it('stops on abort: the promise rejects and no request follows', async () => {
    const { fetch, calls } = statusScript([{ body: taskStatus('PROGRESS', 10) }]);
    const client = createRegistroClient({ baseUrl: BASE, fetch, random: half });
    const controller = new AbortController();
    const done = client.waitForResult('scraping_12345', { signal: controller.signal });
    await vi.advanceTimersByTimeAsync(2_600);
    const before = calls.length;
    controller.abort();
    const error = await done.catch((e: unknown) => e);
    expect(isAbortError(error)).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(before);
  });

  it('aborts the request in flight too', async () => {
    let release: () => void = () => undefined;
    const seen: AbortSignal[] = [];
    const fetch = ((_: unknown, init?: RequestInit) => new Promise<Response>((_resolve, reject) => {
      seen.push(init!.signal!);
      init!.signal!.addEventListener('abort', () => reject(init!.signal!.reason));
      release = () => undefined;
    })) as typeof globalThis.fetch;
    const client = createRegistroClient({ baseUrl: BASE, fetch });
    const controller = new AbortController();
    const done = client.waitForResult('scraping_1', { signal: controller.signal });
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    expect(isAbortError(await done.catch((e: unknown) => e))).toBe(true);
    expect(seen[0]!.aborted).toBe(true);
    release();
  });

  it('gives up after the time limit with a clear error', async () => {
    const { fetch, calls } = statusScript([{ body: taskStatus('PROGRESS', 30) }]);
    const client = createRegistroClient({ baseUrl: BASE, fetch, random: half, timeLimitMs: 60_000 });
    const done = client.waitForResult('scraping_12345');
    const outcome = done.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(61_000);
    const error = await outcome;
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect((error as Error).message).toBe(
      'task scraping_12345 did not finish within its time limit of 60 s (last status: PROGRESS); polling stopped');
    expect(calls.at(-1)!.at).toBe(60_000); // one last look at the deadline
    const count = calls.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(count);
  });

  it('rejects with the reason of a FAILURE, and at once on 401/404', async () => {
    const failing = statusScript([{ body: taskStatus('FAILURE', 100, { reason: 'not_found', message: 'OS não encontrada' }) }]);
    const client = createRegistroClient({ baseUrl: BASE, fetch: failing.fetch });
    await expect(client.waitForResult('scraping_12345')).rejects.toMatchObject({ name: 'TaskFailedError', reason: 'not_found' });
    expect((await client.waitForResult('x').catch((e: unknown) => e)) instanceof TaskFailedError).toBe(true);
    for (const code of [401, 404]) {
      const { fetch, calls } = statusScript([{ status: code, body: { detail: 'no' } }]);
      const c = createRegistroClient({ baseUrl: BASE, fetch });
      await expect(c.waitForResult('scraping_1')).rejects.toMatchObject({ status: code });
      expect(calls).toHaveLength(1);
    }
  });

  it('reports each change once through onProgress', async () => {
    const { fetch } = statusScript([{ body: taskStatus('PENDING', 0) }, { body: taskStatus('PENDING', 0) },
      { body: taskStatus('PROGRESS', 25) }, { body: SUCCESS }]);
    const client = createRegistroClient({ baseUrl: BASE, fetch, random: half });
    const seen: string[] = [];
    const done = client.waitForResult('scraping_12345', { onProgress: (s) => seen.push(`${s.status}:${s.progress}`) });
    await vi.advanceTimersByTimeAsync(20_000);
    await done;
    expect(seen).toEqual(['PENDING:0', 'PROGRESS:25', 'SUCCESS:100']);
  });

  it('shares one poll loop between waiters of the same task; it ends with the last one', async () => {
    const { fetch, calls } = statusScript([{ body: taskStatus('PROGRESS', 10) }]);
    const client = createRegistroClient({ baseUrl: BASE, fetch, random: half, poll: { backoff: 1 } });
    const a = new AbortController();
    const b = new AbortController();
    const first = client.waitForResult('scraping_12345', { signal: a.signal }).catch((e: unknown) => e);
    const second = client.waitForResult('scraping_12345', { signal: b.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(4_500);
    expect(calls).toHaveLength(5); // t = 0, 1, 2, 3, 4 s: one loop, not two
    a.abort();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls).toHaveLength(7); // the second waiter still polls
    b.abort();
    expect(isAbortError(await first)).toBe(true);
    expect(isAbortError(await second)).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toHaveLength(7);
  });
});

describe('failure evidence', () => {
  it('a FAILURE carries its evidencia_id; so does a fallback failure answer', async () => {
    const failing = statusScript([{ body: taskStatus('FAILURE', 100,
      { reason: 'login_failed', message: 'recusado', evidencia_id: EVIDENCIA_ID }) }]);
    const client = createRegistroClient({ baseUrl: BASE, fetch: failing.fetch });
    const error = await client.waitForResult('scraping_12345').catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'TaskFailedError', reason: 'login_failed', evidenciaId: EVIDENCIA_ID });
    expect(evidenceIdOf(error)).toBe(EVIDENCIA_ID);

    const fallback = scriptedFetch(() => ({ status: 502, body: { status: 'error', reason: 'login_failed',
      message: 'recusado', via: 'sincrono', fallback_reason: 'no_worker', evidencia_id: EVIDENCIA_ID } }));
    const sync = createRegistroClient({ baseUrl: BASE, fetch: fallback.fetch });
    expect(evidenceIdOf(await sync.lookup('12345').catch((e: unknown) => e))).toBe(EVIDENCIA_ID);
    expect(evidenceIdOf(new TaskFailedError('t', 'not_found', 'x'))).toBeNull();
    expect(evidenceIdOf(new Error('x'))).toBeNull();
  });

  it('fetches the screenshot with the key as a Blob, and the metadata', async () => {
    const meta = { id: EVIDENCIA_ID, motivo: 'login_failed' };
    const { fetch, calls } = scriptedFetch((url) => url.endsWith('.png')
      ? { raw: PNG, headers: { 'Content-Type': 'image/png' } } : { body: meta });
    const client = createRegistroClient({ baseUrl: BASE, fetch, headers: () => ({ Authorization: 'Bearer k' }) });
    const blob = await client.evidenceScreenshot(EVIDENCIA_ID);
    expect(blob.type).toBe('image/png');
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(PNG);
    expect(await client.evidence(EVIDENCIA_ID)).toEqual(meta);
    expect(calls.map((c) => [c.url, c.headers.get('Authorization'), c.headers.get('Accept')])).toEqual([
      [`${BASE}/api/desenvolvimento/evidencias/${EVIDENCIA_ID}/screenshot.png`, 'Bearer k', 'image/png'],
      [`${BASE}/api/desenvolvimento/evidencias/${EVIDENCIA_ID}`, 'Bearer k', 'application/json'],
    ]);
  });

  it('an unknown bundle is an ApiError 404', async () => {
    const { fetch } = scriptedFetch(() => ({ status: 404, body: { detail: `unknown evidence ${EVIDENCIA_ID}` } }));
    const client = createRegistroClient({ baseUrl: BASE, fetch });
    const error = await client.evidenceScreenshot(EVIDENCIA_ID).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 404, message: expect.stringContaining('unknown evidence') });
  });
});

describe('history', () => {
  const page = (ids: number[], next: string | null) => ({
    numero_os: '12345', total: 3, proxima_pagina: next,
    alteracoes: ids.map((id) => ({ id, campo: 'cliente_dados.telefone', valor_anterior: '1', valor_novo: '2',
      observado_em: '2026-12-01T10:00:00+00:00' })),
  }) satisfies Historico;

  it('asks one page with limite and antes_de, and reads the next cursor from proxima_pagina', async () => {
    const { fetch, calls } = scriptedFetch(() => ({ body: page([41], '/api/desenvolvimento/historico/12345?limite=1&antes_de=41') }));
    const client = createRegistroClient({ baseUrl: BASE, fetch });
    const first = await client.historico('12345', { limite: 1 });
    await client.historico('12345', { limite: 1, antesDe: nextHistoricoCursor(first)! });
    expect(calls.map((c) => c.url)).toEqual([
      `${BASE}/api/desenvolvimento/historico/12345?limite=1`,
      `${BASE}/api/desenvolvimento/historico/12345?limite=1&antes_de=41`,
    ]);
    expect(nextHistoricoCursor({ proxima_pagina: null })).toBeNull();
  });

  it('historicoPages follows the pages to the last one', async () => {
    const pages = [page([43, 42], '/api/desenvolvimento/historico/12345?limite=2&antes_de=42'), page([41], null)];
    const { fetch, calls } = scriptedFetch((_url, _method, n) => ({ body: pages[n - 1] }));
    const client = createRegistroClient({ baseUrl: BASE, fetch });
    const ids: number[] = [];
    for await (const p of client.historicoPages('12345', { limite: 2 })) ids.push(...p.alteracoes.map((a) => a.id));
    expect(ids).toEqual([43, 42, 41]);
    expect(calls.map((c) => c.url.split('?')[1])).toEqual(['limite=2', 'limite=2&antes_de=42']);
  });
});

describe('per-request timeouts', () => {
  it('gives a hung request up after its time with a RequestTimeoutError (and aborts it)', async () => {
    const { fetch, calls } = scriptedFetch(() => ({ hang: true }));
    const client = createRegistroClient({ baseUrl: BASE, fetch, timeouts: { request: 2_000 } });
    const done = client.status('scraping_1').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(calls[0]!.outcome).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    const error = await done;
    expect(error).toBeInstanceOf(RequestTimeoutError);
    expect(error).toMatchObject({ timeoutMs: 2_000, method: 'GET' });
    expect(calls[0]!.outcome).toBe('aborted');
  });

  it('the lookup has its own, longer time; a per-call timeoutMs wins', async () => {
    const { fetch } = scriptedFetch(() => ({ hang: true }));
    const client = createRegistroClient({ baseUrl: BASE, fetch, timeouts: { request: 1_000, lookup: 5_000 } });
    const started = Date.now();
    const lookup = client.lookup('1').catch((e: unknown) => e);
    const quick = client.queueStatus({ timeoutMs: 300 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(300);
    expect(await quick).toMatchObject({ name: 'RequestTimeoutError', timeoutMs: 300 });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await lookup).toMatchObject({ name: 'RequestTimeoutError', timeoutMs: 5_000 });
    expect(Date.now() - started).toBe(5_300);
  });

  it('inside a wait, a hung status request is retried, and none outlives the time limit', async () => {
    const { fetch, calls } = scriptedFetch(() => ({ hang: true }));
    const client = createRegistroClient({ baseUrl: BASE, fetch, random: half, timeLimitMs: 10_000,
      timeouts: { request: 4_000 } });
    const done = client.waitForResult('scraping_1').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10_999);
    expect(calls.at(-1)!.outcome).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(await done).toBeInstanceOf(TaskTimeoutError);
    // 0: a request (4 s, timed out), 1.5 s pause; 5.5 s: one cut at 4 s, then 0.5 s to the
    // deadline; 10 s: the last look, given one poll interval (1 s).
    expect(calls.map((c) => c.at)).toEqual([0, 5_500, 10_000]);
    expect(calls.every((c) => c.outcome === 'aborted')).toBe(true);
  });
});

describe('contract', () => {
  it('keeps forcar and max_idade where URLSearchParams has no size (older Safari, Chromium)', async () => {
    const descriptor = Object.getOwnPropertyDescriptor(URLSearchParams.prototype, 'size');
    Object.defineProperty(URLSearchParams.prototype, 'size', { configurable: true, get: () => undefined });
    try {
      const { fetch, calls } = scriptedFetch(() => ({ body: { status: 'found_existing' } }));
      const client = createRegistroClient({ baseUrl: BASE, fetch });
      await client.lookup('7', { forcar: true, maxIdade: 60 });
      expect(calls[0]!.url).toBe(`${BASE}/api/desenvolvimento/buscar-os-async/7?forcar=true&max_idade=60`);
    } finally {
      if (descriptor) Object.defineProperty(URLSearchParams.prototype, 'size', descriptor);
    }
  });

  it('a SUCCESS without a result is a failure at once, not a poll until the time limit', async () => {
    const { fetch, calls } = statusScript([{ body: taskStatus('SUCCESS', 100) }]);
    const client = createRegistroClient({ baseUrl: BASE, fetch });
    const error = await client.waitForResult('scraping_12345').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect(error).toMatchObject({ reason: 'no_result' });
    expect(calls).toHaveLength(1);
  });

  it('the fallback error body is typed and its reason read', async () => {
    const body = { status: 'error', message: 'login refused', reason: 'login_failed', fallback_reason: 'no_worker',
      via: 'sincrono', evidencia_id: EVIDENCIA_ID } satisfies components['schemas']['FallbackError'];
    const { fetch } = scriptedFetch(() => ({ status: 502, body }));
    const client = createRegistroClient({ baseUrl: BASE, fetch });
    const error = await client.lookup('1').catch((e: unknown) => e);
    if (!(error instanceof ApiError)) throw new Error('expected an ApiError');
    const typed: ApiErrorBody | string | null = error.body;
    expect(typed).toEqual(body);
    expect(error.reason).toBe('login_failed');
    expect(error.detail).toBeNull();
    const plain = new ApiError(404, { detail: 'task not found' }, null, 'x');
    expect([plain.reason, plain.detail]).toEqual([null, 'task not found']);
  });

  it('request paths come from the generated operations', () => {
    expect(pathOf('historico_os', { path: { numero_os: '1 2' }, query: { limite: 5, antes_de: null } }))
      .toBe('/api/desenvolvimento/historico/1%202?limite=5');
    expect(pathOf('queue_status')).toBe('/api/desenvolvimento/queue-status');
    // Compile-time: a path or method that does not serve the operation is rejected.
    // @ts-expect-error: queue-status is not the history's path
    const wrongPath: RouteOf<'historico_os'> = { method: 'GET', path: '/api/desenvolvimento/queue-status' };
    // @ts-expect-error: the lookup is a POST
    const wrongMethod: RouteOf<'buscar_os_async'> = { method: 'GET', path: '/api/desenvolvimento/buscar-os-async/{numero_os}' };
    // @ts-expect-error: the history has no such query parameter
    pathOf('historico_os', { path: { numero_os: '1' }, query: { pagina: 2 } });
    expect([wrongPath, wrongMethod]).toHaveLength(2);
  });
});
