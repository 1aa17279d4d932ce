import { type ReactNode, createContext, useContext } from 'react';
import type { RegistroClient } from '../client/index.js';

const ClientContext = createContext<RegistroClient | null>(null);

/** Makes one client (one base URL, one headers function) available to the hook and the modal. */
export function RegistroProvider({ client, children }: { client: RegistroClient; children?: ReactNode }) {
  return <ClientContext.Provider value={client}>{children}</ClientContext.Provider>;
}

/** The client passed in, else the provider's, else null. */
export function useOptionalRegistroClient(explicit?: RegistroClient): RegistroClient | null {
  const fromContext = useContext(ClientContext);
  return explicit ?? fromContext;
}

export function useRegistroClient(explicit?: RegistroClient): RegistroClient {
  const client = useOptionalRegistroClient(explicit);
  if (!client) throw new Error('no Registro client: wrap the tree in <RegistroProvider client={...}> or pass `client`');
  return client;
}
