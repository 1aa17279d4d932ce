// A scripted stand-in for the API in unit tests: each answer is a status code, a body and
// headers; every request is recorded with the (fake) time it was made. The real API is
// exercised by the end-to-end tests in tests/web/.
import type { OsData, ScrapeResult, TaskStatus } from '../src/client';

export interface Answer {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Throw a network error (what fetch does when nothing answers). */
  networkError?: boolean;
  /** A non-JSON body (e.g. a PNG), sent as it is with `headers`. */
  raw?: Uint8Array<ArrayBuffer>;
  /** Never answer: the request stays in flight until its signal aborts it (then it
   * rejects with the signal's reason, as fetch does). */
  hang?: boolean;
}

export interface Recorded {
  url: string;
  method: string;
  at: number;
  headers: Headers;
  signal: AbortSignal | null | undefined;
  /** `pending` while in flight; `aborted` once its signal ended it before an answer. */
  outcome: 'pending' | 'answered' | 'failed' | 'aborted';
}

export function scriptedFetch(route: (url: string, method: string, n: number) => Answer) {
  const calls: Recorded[] = [];
  const fetchFn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const method = init?.method ?? 'GET';
    const call: Recorded = { url, method, at: Date.now(), headers: new Headers(init?.headers), signal: init?.signal,
      outcome: 'pending' };
    calls.push(call);
    if (init?.signal?.aborted) {
      call.outcome = 'aborted';
      throw init.signal.reason;
    }
    const answer = route(url, method, calls.length);
    if (answer.hang) {
      return new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => {
          call.outcome = 'aborted';
          reject(init.signal!.reason);
        }, { once: true });
      });
    }
    if (answer.networkError) {
      call.outcome = 'failed';
      throw new TypeError('fetch failed');
    }
    call.outcome = 'answered';
    if (answer.raw) return new Response(answer.raw, { status: answer.status ?? 200, headers: answer.headers });
    return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), {
      status: answer.status ?? 200,
      headers: { 'Content-Type': 'application/json', ...answer.headers },
    });
  }) as typeof fetch;
  return { fetch: fetchFn, calls };
}

export function taskStatus(status: TaskStatus['status'], progress: number, extra: Partial<TaskStatus> = {}): TaskStatus {
  return { task_id: 'scraping_12345', numero_os: '12345', status, progress, message: `${status} ${progress}`, ...extra };
}

export const RECORD = {
  numero_os: '12345',
  cliente: 'ACME Ltda',
  equipamento: 'Compressor X (SN 1)',
  ordem_servico: { numero_os: '12345', defeito: 'não liga' },
  cliente_dados: { razao_social: 'ACME Ltda', cnpj: '00.000.000/0001-00' },
  equipamento_dados: { modelo: 'Compressor X', numero_serie: '1' },
} satisfies OsData;

export const SUCCESS = taskStatus('SUCCESS', 100, {
  result: { status: 'success', data: RECORD, cliente_id: 1, equipamento_id: 2, scraped_fields: 48 } satisfies ScrapeResult,
});

/** Gaps between consecutive recorded requests. */
export function gaps(calls: Recorded[]): number[] {
  return calls.slice(1).map((c, i) => c.at - calls[i]!.at);
}

export const EVIDENCIA_ID = '3f2b9c0e8d7a4b1c9e6f5a4b3c2d1e0f';
export const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
