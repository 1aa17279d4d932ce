// Compiled against the built package (dist/types through package.json "exports"), as a
// host application would import it: `npm run check:package` after `npm run build:lib`.
import { TaskTimeoutError, createRegistroClient } from '@registro/client';
import { AsyncScrapingModal, RegistroProvider, type ScrapingAnswer, useAsyncScraping } from '@registro/client/react';
import { queueStatusQueryOptions, registroKeys, taskStatusQueryOptions } from '@registro/client/query';
import { useQuery } from '@tanstack/react-query';

const client = createRegistroClient({ baseUrl: '', headers: () => ({ Authorization: 'Bearer k' }) });

export function Queue({ taskId }: { taskId: string }) {
  const queue = useQuery(queueStatusQueryOptions(client));
  const status = useQuery(taskStatusQueryOptions(client, taskId));
  const key: readonly unknown[] = registroKeys.status(taskId);
  return <p>{queue.data?.queue_info.scheduled_tasks} {status.data?.progress} {key.length}</p>;
}

export function Page() {
  const scraping = useAsyncScraping();
  const { isLoading, startScraping, currentTaskId } = scraping;
  const result = scraping.status === 'SUCCESS' ? scraping.result.cliente : null;
  const go = async () => {
    const answer: ScrapingAnswer | null = await startScraping('12345');
    if (answer?.status === 'found_existing') console.log(answer.data.cliente, answer.via);
    else if (answer?.status === 'queued') console.log(answer.task_id, answer.estimated_time);
  };
  return (
    <RegistroProvider client={client}>
      <button type="button" disabled={isLoading} onClick={() => void go()}>go</button>
      <AsyncScrapingModal visible numeroOS="12345" taskId={currentTaskId} onClose={() => undefined}
        onSuccess={(data) => console.log(data, result)} onError={(e) => console.log(e instanceof TaskTimeoutError)} />
    </RegistroProvider>
  );
}
