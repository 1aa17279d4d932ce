// Server component. The client entry (and the query entry's keys) run here, on the server (no 'use client' needed);
// the React entry's EvidenceScreenshot is rendered from here directly, which only works
// because that entry is marked 'use client' by the package itself.
import { TaskTimeoutError, isValidNumeroOS } from '@registro/client';
import { registroKeys } from '@registro/client/query';
import { EvidenceScreenshot } from '@registro/client/react';
import { Lookup } from './lookup.tsx';

export default function Page() {
  const numeroOS = '12345';
  const limit = new TaskTimeoutError('scraping_12345', 300_000, 'PROGRESS').message;
  return (
    <main>
      <h1>{`OS ${numeroOS}: ${isValidNumeroOS(numeroOS) ? 'valid' : 'invalid'} (server)`}</h1>
      <p data-testid="limit">{limit}</p>
      <p data-testid="key">{`query key ${registroKeys.status('scraping_12345').join('/')}`}</p>
      <Lookup numeroOS={numeroOS} />
      <EvidenceScreenshot evidenciaId="ev_1" alt="evidence" />
    </main>
  );
}
