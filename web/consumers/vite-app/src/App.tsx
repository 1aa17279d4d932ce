// A host application's use of both entries, as the README shows it.
import { useMemo, useState } from 'react';
import { type LookupAnswer, type TaskStatus, TaskFailedError, createRegistroClient, isValidNumeroOS } from '@registro/client';
import {
  AsyncScrapingModal, RegistroProvider, type ScrapingAnswer, useAsyncScraping,
} from '@registro/client/react';
import { historicoInfiniteQueryOptions, queueStatusQueryOptions } from '@registro/client/query';
import { QueryClient, QueryClientProvider, useInfiniteQuery, useQuery } from '@tanstack/react-query';

const queryClient = new QueryClient();

function Queue({ client, numeroOS }: { client: ReturnType<typeof createRegistroClient>; numeroOS: string }) {
  const queue = useQuery(queueStatusQueryOptions(client, { intervalMs: 5000 }));
  const history = useInfiniteQuery(historicoInfiniteQueryOptions(client, numeroOS, { limite: 10 }));
  const changes = history.data?.pages.flatMap((page) => page.alteracoes) ?? [];
  return <p>{`${queue.data?.queue_info.scheduled_tasks ?? '?'} waiting; ${changes.length} changes`}</p>;
}

function Lookup() {
  const scraping = useAsyncScraping();
  const [numeroOS, setNumeroOS] = useState('12345');
  const [open, setOpen] = useState(false);
  const search = async () => {
    const answer: ScrapingAnswer | null = await scraping.startScraping(numeroOS, { maxIdade: 3600 });
    if (answer?.status === 'queued') setOpen(true);
  };
  return (
    <main>
      <input value={numeroOS} onChange={(e) => setNumeroOS(e.target.value)} aria-label="OS" />
      <button type="button" disabled={!isValidNumeroOS(numeroOS) || scraping.isLoading} onClick={() => void search()}>
        Buscar
      </button>
      <AsyncScrapingModal visible={open} numeroOS={numeroOS} taskId={scraping.currentTaskId} scraping={scraping}
        onClose={() => setOpen(false)} onSuccess={(data) => console.log(data.cliente)}
        onError={(error) => console.log(error instanceof TaskFailedError ? error.reason : error.message)} />
    </main>
  );
}

export function App() {
  const client = useMemo(() => createRegistroClient({ baseUrl: '', headers: () => ({ Authorization: 'Bearer k' }) }), []);
  const describe = (answer: LookupAnswer, status?: TaskStatus) => `${answer.status} ${status?.progress ?? ''}`;
  void describe;
  return (
    <QueryClientProvider client={queryClient}>
      <RegistroProvider client={client}><Lookup /><Queue client={client} numeroOS="12345" /></RegistroProvider>
    </QueryClientProvider>
  );
}
