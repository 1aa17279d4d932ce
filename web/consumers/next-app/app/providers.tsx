'use client';
import { type ReactNode, useState } from 'react';
import { createRegistroClient } from '@registro/client';
import { RegistroProvider } from '@registro/client/react';

export function Providers({ children }: { children: ReactNode }) {
  const [client] = useState(() => createRegistroClient({ baseUrl: '/registro' }));
  return <RegistroProvider client={client}>{children}</RegistroProvider>;
}
