import { useQueueStatus } from '../src/react';

export function QueuePanel() {
  const { queue, error } = useQueueStatus({ intervalMs: 2000 });
  const info = queue?.queue_info;
  return (
    <aside className="queue" aria-labelledby="queue-title">
      <h2 id="queue-title">Fila</h2>
      {error && !queue ? <p className="queue__state">Sem resposta da API</p> : null}
      {queue ? (
        <>
          <p className="queue__state" data-available={queue.celery_available}>
            {queue.celery_available ? 'Fila disponível' : 'Fila indisponível (busca direta)'}
          </p>
          <dl>
            <dt>Aguardando</dt><dd data-testid="queue-waiting">{info?.scheduled_tasks}</dd>
            <dt>Em execução</dt><dd data-testid="queue-running">{info?.active_tasks}</dd>
            <dt>Workers</dt><dd data-testid="queue-workers">{info?.workers_online}</dd>
          </dl>
        </>
      ) : null}
    </aside>
  );
}
