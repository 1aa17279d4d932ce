import { act, cleanup, render, renderHook, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { type ReactNode, StrictMode, useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type FoundExisting, type QueueStatus, type Queued, type SyncScraped, createRegistroClient } from '../src/client';
import { AsyncScrapingModal, type AsyncScrapingState, RegistroProvider, useAsyncScraping, useQueueStatus } from '../src/react';
import { type Answer, EVIDENCIA_ID, PNG, RECORD, SUCCESS, scriptedFetch, taskStatus } from './fakeApi';

afterEach(cleanup);

const QUEUED = { status: 'queued', message: 'OS 12345 adicionada à fila de processamento', task_id: 'scraping_12345',
  estimated_time: '6-15 segundos', instructions: { check_status: '/x' }, via: 'fila', already_queued: false,
} satisfies Queued;
const SYNC = { status: 'success', message: 'OS 12345 obtida diretamente do sistema legado', data: RECORD, cliente_id: 1,
  equipamento_id: 2, scraped_fields: 48, fonte: 'sistema_legado', via: 'sincrono', fallback_reason: 'no_worker',
} satisfies SyncScraped;
const FOUND = { status: 'found_existing', message: 'OS 12345 já existe no sistema', data: RECORD, fonte: 'banco_local',
  lido_em: '2026-11-30T01:00:00Z', idade_segundos: 60, desatualizado: false } satisfies FoundExisting;
const QUEUE = { status: 'success', queue_info: { active_tasks: 1, scheduled_tasks: 3, total_queue: 4, workers_online: 1 },
  celery_available: true } satisfies QueueStatus;

/** A fake API: `lookups` answers POSTs in turn, `statuses` answers status polls in turn (last repeats). */
function setup(lookups: Answer[], statuses: Answer[] = [{ body: SUCCESS }]) {
  let posts = 0;
  let polls = 0;
  const api = scriptedFetch((url, method) => {
    if (method === 'POST') return lookups[Math.min(posts++, lookups.length - 1)]!;
    if (url.endsWith('/queue-status')) return { body: QUEUE };
    if (url.endsWith('/screenshot.png')) return { raw: PNG, headers: { 'Content-Type': 'image/png' } };
    return statuses[Math.min(polls++, statuses.length - 1)]!;
  });
  const client = createRegistroClient({ baseUrl: 'http://api.test', fetch: api.fetch, poll: { intervalMs: 10, maxIntervalMs: 20 } });
  const wrapper = ({ children }: { children?: ReactNode }) => <RegistroProvider client={client}>{children}</RegistroProvider>;
  const statusCalls = () => api.calls.filter((c) => c.url.includes('/scraping-status/')).length;
  return { client, wrapper, calls: api.calls, statusCalls };
}

/** A button that starts the lookup of OS 12345, and the modal that follows it. */
function LookupPage() {
  const scraping = useAsyncScraping();
  return (<>
    <button type="button" onClick={() => void scraping.startScraping('12345')}>go</button>
    <AsyncScrapingModal visible numeroOS="12345" scraping={scraping} onClose={() => undefined} />
  </>);
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 150)); // = 7+ poll intervals of 20 ms

describe('useAsyncScraping', () => {
  it('follows a queued task: PENDING, PROGRESS with the worker message, then the record', async () => {
    const { wrapper } = setup([{ body: QUEUED }], [{ body: taskStatus('PENDING', 0) },
      { body: taskStatus('PROGRESS', 55, { message: 'Extraindo dados' }) }, { body: SUCCESS }]);
    const seen: string[] = [];
    const { result } = renderHook(() => {
      const s = useAsyncScraping();
      seen.push(`${s.status}:${s.progress}:${s.isLoading}`);
      return s;
    }, { wrapper });
    let answer: unknown;
    await act(async () => { answer = await result.current.startScraping('12345'); });
    expect(answer).toMatchObject({ status: 'queued', task_id: 'scraping_12345' });
    expect(result.current.currentTaskId).toBe('scraping_12345');
    expect(result.current.estimatedTime).toBe('6-15 segundos');
    await waitFor(() => expect(result.current.status).toBe('SUCCESS'));
    expect(result.current).toMatchObject({ result: RECORD, via: 'fila', isLoading: false, progress: 100, error: null });
    expect(seen).toContain('PROGRESS:55:true');
  });

  it.each([['found_existing', FOUND, 'banco_local'], ['synchronous fallback', SYNC, 'sincrono']] as const)(
    'a %s answer resolves the hook at once with the data', async (_name, body, via) => {
      const { wrapper, calls } = setup([{ body }]);
      const { result } = renderHook(() => useAsyncScraping(), { wrapper });
      let answer: unknown;
      await act(async () => { answer = await result.current.startScraping('12345'); });
      // The guide's caller code (`status === 'found_existing'` → use data) works for both.
      expect(answer).toMatchObject({ status: 'found_existing', data: RECORD, via });
      expect(result.current).toMatchObject({ status: 'SUCCESS', result: RECORD, via, isLoading: false, currentTaskId: null });
      await settle();
      expect(calls).toHaveLength(1); // no polling
    });

  it('a stale record is shown at once, then replaced by its refresh with a newer lido_em', async () => {
    const stale = { ...FOUND, lido_em: '2026-11-30T01:00:00Z', idade_segundos: 3600, desatualizado: true,
      task_id: 'scraping_12345', instructions: { check_status: '/x' } };
    const fresh = { ...RECORD, cliente: 'Cliente Novo' };
    const { wrapper } = setup([{ body: stale }], [{ body: taskStatus('PROGRESS', 50) },
      { body: { ...SUCCESS, result: { ...SUCCESS.result, data: fresh, lido_em: '2026-11-30T02:00:00Z' } } }]);
    const { result } = renderHook(() => useAsyncScraping(), { wrapper });
    let answer: unknown;
    await act(async () => { answer = await result.current.startScraping('12345', { maxIdade: 600 }); });
    expect(answer).toMatchObject({ status: 'found_existing', desatualizado: true, task_id: 'scraping_12345' });
    expect(result.current).toMatchObject({ status: 'SUCCESS', result: RECORD, lidoEm: '2026-11-30T01:00:00Z',
      desatualizado: true, refreshTaskId: 'scraping_12345', isLoading: false });
    await waitFor(() => expect(result.current.desatualizado).toBe(false));
    expect(result.current).toMatchObject({ status: 'SUCCESS', result: fresh, lidoEm: '2026-11-30T02:00:00Z',
      refreshTaskId: null });
  });

  it('unmounting mid-poll aborts the request in flight and polls no more', async () => {
    // The third status request never answers: it is in flight when the hook unmounts.
    const { wrapper, statusCalls, calls } = setup([{ body: QUEUED }],
      [{ body: taskStatus('PROGRESS', 20) }, { body: taskStatus('PROGRESS', 30) }, { hang: true }]);
    const { result, unmount } = renderHook(() => useAsyncScraping(), { wrapper });
    await act(async () => { await result.current.startScraping('12345'); });
    await waitFor(() => expect(statusCalls()).toBe(3));
    const inFlight = calls.at(-1)!;
    expect(inFlight.outcome).toBe('pending');
    unmount();
    const count = statusCalls();
    expect(inFlight.outcome).toBe('aborted');
    await settle();
    expect(statusCalls()).toBe(count);
  });

  it('cancel stops polling; an error answer ends in FAILURE with the error; retry asks again', async () => {
    const { wrapper, statusCalls } = setup([{ status: 503, headers: { 'Retry-After': '10' }, body: { status: 'busy', message: 'x' } },
      { body: QUEUED }], [{ body: taskStatus('PROGRESS', 20) }]);
    const { result } = renderHook(() => useAsyncScraping(), { wrapper });
    let answer: unknown = 'unset';
    await act(async () => { answer = await result.current.startScraping('12345'); });
    expect(answer).toBeNull();
    expect(result.current.status).toBe('FAILURE');
    expect(result.current.error).toMatchObject({ name: 'ApiError', status: 503, retryAfterMs: 10_000 });
    await act(async () => { await result.current.retry(); });
    await waitFor(() => expect(result.current.status).toBe('PROGRESS'));
    act(() => result.current.cancel());
    expect(result.current.status).toBe('idle');
    const count = statusCalls();
    await settle();
    expect(statusCalls()).toBe(count);
  });
});

describe('AsyncScrapingModal', () => {
  it('follows the guide props: progress bar, worker message, estimated time, onSuccess', async () => {
    const { wrapper } = setup([], [{ body: taskStatus('PROGRESS', 40, { message: 'Extraindo dados da OS' }) },
      { body: taskStatus('PROGRESS', 40, { message: 'Extraindo dados da OS' }) }, { body: SUCCESS }]);
    const onSuccess = vi.fn();
    const onClose = vi.fn();
    render(<AsyncScrapingModal visible numeroOS="12345" taskId="scraping_12345" onClose={onClose} onSuccess={onSuccess} />,
      { wrapper });
    const dialog = screen.getByRole('dialog', { name: 'Buscando a OS 12345' });
    expect(dialog.getAttribute('aria-modal')).toBe('true');
    await screen.findByText('40% · Extraindo dados da OS');
    expect(screen.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('40');
    await waitFor(() => expect(onSuccess).toHaveBeenCalledWith(RECORD));
    expect(onSuccess).toHaveBeenCalledTimes(1);
  });

  it('shows the estimate and the queue while PENDING, in overridable Portuguese texts', async () => {
    const { wrapper } = setup([{ body: QUEUED }], [{ body: taskStatus('PENDING', 0) }]);
    function Page() {
      const scraping = useAsyncScraping();
      return (
        <>
          <button type="button" onClick={() => void scraping.startScraping('12345')}>go</button>
          <AsyncScrapingModal visible numeroOS="12345" taskId={scraping.currentTaskId} scraping={scraping}
            onClose={() => undefined} texts={{ close: 'Parar' }} />
        </>
      );
    }
    render(<Page />, { wrapper });
    await userEvent.click(screen.getByText('go'));
    await screen.findByText('Tempo estimado: 6-15 segundos');
    await screen.findByText('3 tarefas aguardando na fila');
    expect(screen.getByText('Aguardando na fila…')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Parar' })).toBeTruthy();
  });

  it('keeps focus inside, closes on Escape, and closing stops polling', async () => {
    const { wrapper, statusCalls } = setup([], [{ body: taskStatus('PROGRESS', 10) }]);
    function Host() {
      const [open, setOpen] = useState(true);
      return (
        <>
          <button type="button">outside</button>
          <AsyncScrapingModal visible={open} numeroOS="12345" taskId="scraping_12345" onClose={() => setOpen(false)} />
        </>
      );
    }
    render(<Host />, { wrapper });
    const cancel = await screen.findByRole('button', { name: 'Fechar' });
    expect(document.activeElement).toBe(cancel);
    await userEvent.tab();
    expect(document.activeElement).toBe(cancel); // the only control: Tab stays on it
    await userEvent.tab({ shift: true });
    expect(document.activeElement).toBe(cancel);
    await waitFor(() => expect(statusCalls()).toBeGreaterThanOrEqual(2));
    await userEvent.keyboard('{Escape}');
    expect(screen.queryByRole('dialog')).toBeNull();
    const count = statusCalls();
    await settle();
    expect(statusCalls()).toBe(count);
  });

  it('closing a modal that shows the page hook stops the polling of that hook', async () => {
    const { wrapper, statusCalls } = setup([{ body: QUEUED }], [{ body: taskStatus('PROGRESS', 10) }]);
    function Page() {
      const scraping = useAsyncScraping();
      const [open, setOpen] = useState(false);
      return (
        <>
          <button type="button" onClick={() => { setOpen(true); void scraping.startScraping('12345'); }}>go</button>
          <AsyncScrapingModal visible={open} numeroOS="12345" taskId={scraping.currentTaskId} scraping={scraping}
            onClose={() => setOpen(false)} />
        </>
      );
    }
    render(<Page />, { wrapper });
    await userEvent.click(screen.getByText('go'));
    await waitFor(() => expect(statusCalls()).toBeGreaterThanOrEqual(3));
    await userEvent.click(screen.getByRole('button', { name: 'Fechar' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    const count = statusCalls();
    await settle();
    expect(statusCalls()).toBe(count);
  });

  it('offers a retry on failure that looks the OS up again; Tab cycles between its buttons', async () => {
    const { wrapper } = setup([{ body: QUEUED }, { body: FOUND }],
      [{ body: taskStatus('FAILURE', 100, { reason: 'retries_exhausted', message: 'falhou' }) }]);
    const onSuccess = vi.fn();
    const onError = vi.fn();
    function Page() {
      const scraping = useAsyncScraping();
      return (
        <>
          <button type="button" onClick={() => void scraping.startScraping('12345')}>go</button>
          <AsyncScrapingModal visible numeroOS="12345" taskId={scraping.currentTaskId} scraping={scraping}
            onClose={() => undefined} onSuccess={onSuccess} onError={onError} />
        </>
      );
    }
    render(<Page />, { wrapper });
    await userEvent.click(screen.getByText('go'));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe('O sistema de origem falhou em todas as tentativas.');
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ name: 'TaskFailedError', reason: 'retries_exhausted' }));
    const retry = screen.getByRole('button', { name: 'Tentar novamente' });
    const close = screen.getByRole('button', { name: 'Fechar' });
    close.focus();
    await userEvent.tab();
    expect(document.activeElement).toBe(retry);
    await userEvent.tab({ shift: true });
    expect(document.activeElement).toBe(close);
    await userEvent.click(retry);
    await waitFor(() => expect(onSuccess).toHaveBeenCalledWith(RECORD));
  });

  it('shows the screenshot of a failed lookup (showEvidence), fetched with the key', async () => {
    const created: Blob[] = [];
    const revoked: string[] = [];
    vi.spyOn(URL, 'createObjectURL').mockImplementation((blob) => {
      created.push(blob as Blob);
      return `blob:evidencia/${created.length}`;
    });
    vi.spyOn(URL, 'revokeObjectURL').mockImplementation((url) => { revoked.push(url); });
    const failed = taskStatus('FAILURE', 100, { reason: 'login_failed', message: 'recusado', evidencia_id: EVIDENCIA_ID });
    const { wrapper, calls } = setup([{ body: QUEUED }], [{ body: failed }]);
    function Page({ showEvidence }: { showEvidence: boolean }) {
      const scraping = useAsyncScraping();
      return (
        <>
          <button type="button" onClick={() => void scraping.startScraping('12345')}>go</button>
          <AsyncScrapingModal visible numeroOS="12345" scraping={scraping} onClose={() => undefined}
            showEvidence={showEvidence} />
        </>
      );
    }
    const { rerender, unmount } = render(<Page showEvidence={false} />, { wrapper });
    await userEvent.click(screen.getByText('go'));
    await screen.findByRole('alert');
    await settle();
    expect(screen.queryByRole('img')).toBeNull();  // off by default: nothing fetched
    expect(calls.filter((c) => c.url.endsWith('.png'))).toHaveLength(0);

    rerender(<Page showEvidence />);
    const image = await screen.findByRole('img', { name: 'Tela do sistema de origem quando a busca falhou' });
    expect(image.getAttribute('src')).toBe('blob:evidencia/1');
    expect(created[0]!.type).toBe('image/png');
    expect(screen.getByText(`Evidência ${EVIDENCIA_ID}`)).toBeTruthy();
    expect(calls.filter((c) => c.url.endsWith(`/evidencias/${EVIDENCIA_ID}/screenshot.png`))).toHaveLength(1);
    unmount();
    expect(revoked).toEqual(['blob:evidencia/1']); // released with the modal
    vi.restoreAllMocks();
  });
});

describe('hook state and options', () => {
  it('its state is a union on status: the record only on SUCCESS, the error only on FAILURE', async () => {
    const { wrapper } = setup([{ body: QUEUED }], [{ body: taskStatus('PROGRESS', 50) },
      { body: taskStatus('SUCCESS', 100) }]); // a SUCCESS status without its result
    const seen: AsyncScrapingState[] = [];
    const { result } = renderHook(() => {
      const scraping = useAsyncScraping();
      seen.push(scraping);
      return scraping;
    }, { wrapper });
    await act(async () => { await result.current.startScraping('12345'); });
    await waitFor(() => expect(result.current.status).toBe('FAILURE'));
    expect(result.current.error).toMatchObject({ name: 'TaskFailedError', reason: 'no_result' });
    for (const state of seen) {
      expect(state.status === 'SUCCESS').toBe(state.result !== null);
      expect(state.status === 'FAILURE').toBe(state.error !== null);
    }
    // Compile-time: narrowing by status gives the record without a null check.
    const narrow = (s: AsyncScrapingState) => (s.status === 'SUCCESS' ? s.result.cliente : s.result);
    // @ts-expect-error: without narrowing, result may be null
    const unnarrowed = (s: AsyncScrapingState) => s.result.cliente;
    expect([narrow, unnarrowed]).toHaveLength(2);
  });

  it('retry asks again with the options of the lookup it repeats', async () => {
    const { wrapper, calls } = setup([{ status: 503, headers: { 'Retry-After': '1' }, body: { status: 'busy', message: 'x' } },
      { body: FOUND }]);
    const { result } = renderHook(() => useAsyncScraping(), { wrapper });
    await act(async () => { await result.current.startScraping('12345', { maxIdade: 600, forcar: true }); });
    expect(result.current.status).toBe('FAILURE');
    await act(async () => { await result.current.retry(); });
    const posts = calls.filter((c) => c.method === 'POST').map((c) => c.url.split('?')[1]);
    expect(posts).toEqual(['forcar=true&max_idade=600', 'forcar=true&max_idade=600']);
    expect(result.current.status).toBe('SUCCESS');
  });

  it('mounts under StrictMode (effects twice): the modal follows its task to the record, reported once', async () => {
    const { wrapper, calls } = setup([], [{ body: taskStatus('PROGRESS', 40) }, { body: taskStatus('PROGRESS', 70) },
      { body: SUCCESS }]);
    const onSuccess = vi.fn();
    render(<StrictMode>
      <AsyncScrapingModal visible numeroOS="12345" taskId="scraping_12345" onClose={() => undefined} onSuccess={onSuccess}
        showQueue={false} />
    </StrictMode>, { wrapper });
    await screen.findByText('100% · OS obtida com sucesso');
    await settle();
    expect(onSuccess).toHaveBeenCalledTimes(1);
    expect(onSuccess).toHaveBeenCalledWith(RECORD);
    // The discarded first mount's wait was left: the client's one loop per task went on.
    expect(calls.filter((c) => c.url.includes('/scraping-status/'))).toHaveLength(3);
  });
});

describe('useQueueStatus', () => {
  function queueApi(answers: Answer[]) {
    let n = 0;
    const api = scriptedFetch(() => answers[Math.min(n++, answers.length - 1)]!);
    const client = createRegistroClient({ baseUrl: 'http://api.test', fetch: api.fetch });
    const wrapper = ({ children }: { children?: ReactNode }) => <RegistroProvider client={client}>{children}</RegistroProvider>;
    return { calls: api.calls, wrapper };
  }

  it('is one poller per client, shared by every subscriber', async () => {
    const { calls, wrapper } = queueApi([{ body: QUEUE }]);
    function Two() {
      const a = useQueueStatus({ intervalMs: 40 });
      const b = useQueueStatus({ intervalMs: 40 });
      return <p>{`${a.queue?.queue_info.total_queue}/${b.queue?.queue_info.total_queue}`}</p>;
    }
    const { unmount } = render(<><Two /><Two /></>, { wrapper });
    await screen.findAllByText('4/4');
    await new Promise((resolve) => setTimeout(resolve, 200));
    // 200 ms at 40 ms ±25 %: about 5 requests for four subscribers, never one each.
    expect(calls.length).toBeGreaterThanOrEqual(3);
    expect(calls.length).toBeLessThanOrEqual(8);
    unmount();
    const count = calls.length;
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(calls).toHaveLength(count);
  });

  it('waits at least Retry-After after a 503', async () => {
    const { calls, wrapper } = queueApi([{ status: 503, headers: { 'Retry-After': '0.3' }, body: { detail: 'busy' } },
      { body: QUEUE }]);
    const { result } = renderHook(() => useQueueStatus({ intervalMs: 20 }), { wrapper });
    await waitFor(() => expect(result.current.error).toMatchObject({ status: 503 }));
    await waitFor(() => expect(result.current.queue).not.toBeNull(), { timeout: 2_000 });
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(300);
  });

  it('pauses while the page is hidden and asks at once when it shows again', async () => {
    const { calls, wrapper } = queueApi([{ body: QUEUE }]);
    let hidden = false;
    const restore = Object.getOwnPropertyDescriptor(Document.prototype, 'hidden');
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
    try {
      const { result } = renderHook(() => useQueueStatus({ intervalMs: 20 }), { wrapper });
      await waitFor(() => expect(result.current.queue).not.toBeNull());
      hidden = true;
      document.dispatchEvent(new Event('visibilitychange'));
      const count = calls.length;
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(calls).toHaveLength(count);
      hidden = false;
      document.dispatchEvent(new Event('visibilitychange'));
      expect(calls).toHaveLength(count + 1);
    } finally {
      delete (document as { hidden?: boolean }).hidden;
      if (restore) Object.defineProperty(Document.prototype, 'hidden', restore);
    }
  });
});

describe('words', () => {
  it('shows the worker stage in the reader’s words: pt-BR by default, en per provider or per component', async () => {
    const statuses = [{ body: taskStatus('PROGRESS', 40, { message: 'Searching OS 12345', etapa: 'searching' }) }];
    const { client } = setup([], statuses);
    const { unmount } = render(<RegistroProvider client={client}>
      <AsyncScrapingModal visible numeroOS="12345" taskId="scraping_12345" onClose={() => undefined} showQueue={false} />
    </RegistroProvider>);
    await screen.findByText('40% · Procurando a OS 12345');
    expect(screen.getByRole('button', { name: 'Fechar' })).toBeTruthy();
    expect(screen.getByText(/Fechar não interrompe a busca/)).toBeTruthy();
    unmount();
    const english = render(<RegistroProvider client={client} locale="en">
      <AsyncScrapingModal visible numeroOS="12345" taskId="scraping_12345" onClose={() => undefined} showQueue={false} />
    </RegistroProvider>);
    await screen.findByText('40% · Searching for OS 12345');
    expect(screen.getByRole('dialog', { name: 'Looking up OS 12345' })).toBeTruthy();
    english.unmount();
    render(<RegistroProvider client={client} locale="en" texts={{ close: 'Done' }}>
      <AsyncScrapingModal visible numeroOS="12345" taskId="scraping_12345" onClose={() => undefined} showQueue={false}
        locale="pt-BR" />
    </RegistroProvider>);
    await screen.findByText('40% · Procurando a OS 12345');
    expect(screen.getByRole('button', { name: 'Done' })).toBeTruthy(); // the provider's override stays
  });

  it('an unknown stage shows the worker’s own message', async () => {
    const { wrapper } = setup([], [{ body: taskStatus('PROGRESS', 70, { message: 'Polishing', etapa: 'polishing' }) }]);
    render(<AsyncScrapingModal visible numeroOS="12345" taskId="scraping_12345" onClose={() => undefined} showQueue={false} />,
      { wrapper });
    await screen.findByText('70% · Polishing');
  });

  it('the failure drops the bar, says what failed (the fallback reason), and its title says so', async () => {
    const { wrapper } = setup([{ status: 502, body: { status: 'error', message: 'x', reason: 'login_failed',
      fallback_reason: 'no_worker', via: 'sincrono' } }]);
    render(<LookupPage />, { wrapper });
    await userEvent.click(screen.getByText('go'));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe('O sistema de origem recusou o acesso.');
    expect(screen.queryByRole('progressbar')).toBeNull();
    expect(screen.getByRole('dialog', { name: 'Não foi possível obter a OS 12345' })).toBeTruthy();
  });

  it('the retry counts Retry-After down and only then asks again', async () => {
    const { wrapper, calls } = setup([{ status: 503, headers: { 'Retry-After': '2' }, body: { status: 'busy', message: 'x',
      fallback_reason: 'redis_unavailable', via: 'sincrono' } }, { body: FOUND }]);
    render(<LookupPage />, { wrapper });
    await userEvent.click(screen.getByText('go'));
    const retry = await screen.findByRole('button', { name: 'Tentar novamente em 2 s' });
    expect(retry.getAttribute('aria-disabled')).toBe('true');
    expect(document.activeElement).toBe(retry);
    await userEvent.click(retry);
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(1); // not before Retry-After
    await screen.findByRole('button', { name: 'Tentar novamente em 1 s' }, { timeout: 1_500 });
    const ready = await screen.findByRole('button', { name: 'Tentar novamente' }, { timeout: 1_500 });
    expect(ready.getAttribute('aria-disabled')).toBeNull();
    await userEvent.click(ready);
    await waitFor(() => expect(calls.filter((c) => c.method === 'POST')).toHaveLength(2));
  });

  it('the page behind the modal is inert while it is open, and focus goes back on close', async () => {
    const { wrapper } = setup([], [{ body: taskStatus('PROGRESS', 10) }]);
    function Page() {
      const [open, setOpen] = useState(false);
      return (<>
        <button type="button" onClick={() => setOpen(true)}>open</button>
        <AsyncScrapingModal visible={open} numeroOS="12345" taskId="scraping_12345" onClose={() => setOpen(false)}
          showQueue={false} />
      </>);
    }
    const { container } = render(<Page />, { wrapper });
    const opener = screen.getByText('open');
    opener.focus();
    await userEvent.keyboard('{Enter}');
    await screen.findByRole('dialog');
    expect(container.hasAttribute('inert')).toBe(true);
    expect(screen.getByRole('dialog').closest('[inert]')).toBeNull();
    await userEvent.keyboard('{Escape}');
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(container.hasAttribute('inert')).toBe(false);
    expect(document.activeElement).toBe(opener);
  });
});
