import { type ReactNode, createContext, useContext, useMemo } from 'react';
import type { RegistroClient } from '../client/index.js';
import { type Locale, type ModalTexts, TEXTS } from './texts.js';

const ClientContext = createContext<RegistroClient | null>(null);
const TextsContext = createContext<{ locale: Locale; texts?: Partial<ModalTexts> }>({ locale: 'pt-BR' });

export interface RegistroProviderProps {
  client: RegistroClient;
  /** The language of every component below (default `pt-BR`). */
  locale?: Locale;
  /** Texts overridden for every component below (a component's own `texts` win). */
  texts?: Partial<ModalTexts>;
  children?: ReactNode;
}

/** Makes one client (one base URL, one headers function), one language and its texts
 * available to the hook and the components. */
export function RegistroProvider({ client, locale = 'pt-BR', texts, children }: RegistroProviderProps) {
  const words = useMemo(() => ({ locale, texts }), [locale, texts]);
  return (
    <ClientContext.Provider value={client}>
      <TextsContext.Provider value={words}>{children}</TextsContext.Provider>
    </ClientContext.Provider>
  );
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

/** The texts for a component: its `locale` (else the provider's), the provider's
 * overrides, then the component's own. */
export function useRegistroTexts(locale?: Locale, own?: Partial<ModalTexts>): ModalTexts {
  const fromProvider = useContext(TextsContext);
  const chosen = locale ?? fromProvider.locale;
  return { ...TEXTS[chosen], ...fromProvider.texts, ...own };
}
