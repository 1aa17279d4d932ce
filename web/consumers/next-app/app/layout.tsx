// Server component (relative imports name the .tsx file: Turbopack does not map .js to
// .tsx, and nodenext wants an extension). The provider is a client component of the app (it holds the client,
// which has functions and cannot cross from server to client as a prop).
import type { ReactNode } from 'react';
import { Providers } from './providers.tsx';

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="pt-BR">
      <body><Providers>{children}</Providers></body>
    </html>
  );
}
