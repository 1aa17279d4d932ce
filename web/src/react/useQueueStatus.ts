import { useEffect, useState } from 'react';
import { ApiError, type QueueStatus, type RegistroClient, isAbortError, withJitter } from '../client/index.js';
import { useOptionalRegistroClient } from './context.js';

export interface QueueState {
  queue: QueueStatus | null;
  error: Error | null;
}

const EMPTY: QueueState = { queue: null, error: null };

/** One `queue-status` poller per client, shared by every `useQueueStatus` of it (the
 * provider's client: all modals and panels of a page make one request per interval). It
 * polls while at least one enabled subscriber is mounted, at the shortest interval they
 * ask for (with ±25 % jitter); after a 429/503 it waits at least `Retry-After`; while the
 * page is hidden (`document.hidden`) it stops, and asks again at once when it shows. */
export class QueueStatusStore {
  state: QueueState = EMPTY;
  private readonly subscribers = new Map<symbol, { notify: (state: QueueState) => void; intervalMs: number }>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private controller: AbortController | null = null;
  private listening = false;

  constructor(
    private readonly client: RegistroClient,
    private readonly random: () => number = Math.random,
  ) {}

  subscribe(notify: (state: QueueState) => void, intervalMs: number): () => void {
    const key = Symbol('subscriber');
    this.subscribers.set(key, { notify, intervalMs });
    if (this.subscribers.size === 1) this.start();
    return () => {
      this.subscribers.delete(key);
      if (this.subscribers.size === 0) this.stop();
    };
  }

  private get hidden(): boolean {
    return typeof document !== 'undefined' && document.hidden;
  }

  private readonly onVisibility = () => {
    if (this.hidden) this.pause();
    else if (this.subscribers.size > 0 && !this.controller) this.tick();
  };

  private start() {
    if (typeof document !== 'undefined' && !this.listening) {
      document.addEventListener('visibilitychange', this.onVisibility);
      this.listening = true;
    }
    if (!this.hidden) this.tick();
  }

  private pause() {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.controller?.abort();
    this.controller = null;
  }

  private stop() {
    this.pause();
    if (this.listening) document.removeEventListener('visibilitychange', this.onVisibility);
    this.listening = false;
  }

  private tick() {
    clearTimeout(this.timer);
    const controller = new AbortController();
    this.controller = controller;
    let floorMs = 0;
    this.client.queueStatus({ signal: controller.signal }).then(
      (queue) => this.publish({ queue, error: null }, controller),
      (error: unknown) => {
        if (controller.signal.aborted || isAbortError(error)) return;
        if (error instanceof ApiError && error.retryAfterMs != null) floorMs = error.retryAfterMs;
        this.publish({ ...this.state, error: error instanceof Error ? error : new Error(String(error)) }, controller);
      },
    ).then(() => {
      if (controller.signal.aborted || this.controller !== controller) return;
      this.controller = null;
      if (this.subscribers.size === 0 || this.hidden) return;
      const intervalMs = Math.min(...[...this.subscribers.values()].map((s) => s.intervalMs));
      // Retry-After is a floor; the jitter only ever adds to it.
      const delay = floorMs > intervalMs ? floorMs * (1 + 0.25 * this.random()) : withJitter(intervalMs, 0.25, this.random);
      this.timer = setTimeout(() => this.tick(), delay);
    });
  }

  private publish(state: QueueState, controller: AbortController) {
    if (controller.signal.aborted) return;
    this.state = state;
    for (const { notify } of this.subscribers.values()) notify(state);
  }
}

const stores = new WeakMap<RegistroClient, QueueStatusStore>();

/** The shared poller of `client`. */
export function queueStatusStore(client: RegistroClient): QueueStatusStore {
  let store = stores.get(client);
  if (!store) {
    store = new QueueStatusStore(client);
    stores.set(client, store);
  }
  return store;
}

/** `queue-status` every `intervalMs` while `enabled` and a client is known, from the poller
 * shared by every subscriber of the same client (`QueueStatusStore`): it honours
 * `Retry-After`, pauses while the tab is hidden, and stops when the last subscriber goes. */
export function useQueueStatus(
  { intervalMs = 3000, enabled = true, client: explicit }: { intervalMs?: number; enabled?: boolean; client?: RegistroClient } = {},
): QueueState {
  const client = useOptionalRegistroClient(explicit);
  const store = client ? queueStatusStore(client) : null;
  const [state, setState] = useState<QueueState>(() => store?.state ?? EMPTY);
  useEffect(() => {
    if (!enabled || !store) return;
    setState(store.state);
    return store.subscribe(setState, intervalMs);
  }, [store, intervalMs, enabled]);
  return state;
}
