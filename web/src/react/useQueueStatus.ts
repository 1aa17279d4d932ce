import { useEffect, useState } from 'react';
import { type QueueStatus, type RegistroClient, isAbortError, withJitter } from '../client/index.js';
import { useOptionalRegistroClient } from './context.js';

export interface QueueState {
  queue: QueueStatus | null;
  error: Error | null;
}

/** `queue-status` every `intervalMs` (with jitter) while `enabled` and a client is known;
 * stops on unmount. */
export function useQueueStatus(
  { intervalMs = 3000, enabled = true, client: explicit }: { intervalMs?: number; enabled?: boolean; client?: RegistroClient } = {},
): QueueState {
  const client = useOptionalRegistroClient(explicit);
  const [state, setState] = useState<QueueState>({ queue: null, error: null });
  useEffect(() => {
    if (!enabled || !client) return;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const queue = await client.queueStatus({ signal: controller.signal });
        if (!controller.signal.aborted) setState({ queue, error: null });
      } catch (error) {
        if (controller.signal.aborted || isAbortError(error)) return;
        setState((s) => ({ ...s, error: error instanceof Error ? error : new Error(String(error)) }));
      }
      if (!controller.signal.aborted) timer = setTimeout(tick, withJitter(intervalMs, 0.25, Math.random));
    };
    void tick();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [client, intervalMs, enabled]);
  return state;
}
