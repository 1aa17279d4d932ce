'use client';
// The React entry from a client component: the hook and the modal.
import { useState } from 'react';
import { AsyncScrapingModal, useAsyncScraping } from '@registro/client/react';

export function Lookup({ numeroOS }: { numeroOS: string }) {
  const scraping = useAsyncScraping();
  const [open, setOpen] = useState(false);
  return (
    <section>
      <button type="button" disabled={scraping.isLoading}
        onClick={() => void scraping.startScraping(numeroOS).then((a) => setOpen(a?.status === 'queued'))}>
        {`Buscar OS ${numeroOS}`}
      </button>
      <AsyncScrapingModal visible={open} numeroOS={numeroOS} taskId={scraping.currentTaskId} scraping={scraping}
        onClose={() => setOpen(false)} />
    </section>
  );
}
