import { type FormEvent, useEffect, useRef, useState } from 'react';
import { type OsData, isValidNumeroOS } from '../src/client';
import { AsyncScrapingModal, useAsyncScraping } from '../src/react';
import { QueuePanel } from './QueuePanel';
import { RecordView } from './RecordView';

// A stored OS answers in milliseconds: the modal only opens when the answer takes longer
// than this (a queued task, or the synchronous fallback scraping in the API).
const MODAL_DELAY_MS = 400;

export function App() {
  const scraping = useAsyncScraping();
  const [numero, setNumero] = useState('');
  const [modalOs, setModalOs] = useState<string | null>(null);
  const [record, setRecord] = useState<{ data: OsData; via: string | null; lidoEm: string | null;
    desatualizado: boolean } | null>(null);
  const [invalid, setInvalid] = useState(false);
  const modalTimer = useRef<ReturnType<typeof setTimeout>>(undefined);

  useEffect(() => () => clearTimeout(modalTimer.current), []);

  // The record shows as soon as the hook has it, whichever path produced it.
  useEffect(() => {
    if (scraping.status === 'SUCCESS') {
      clearTimeout(modalTimer.current);
      setRecord({ data: scraping.result, via: scraping.via, lidoEm: scraping.lidoEm, desatualizado: scraping.desatualizado });
      setModalOs(null);
    }
  }, [scraping.status, scraping.result, scraping.via, scraping.lidoEm, scraping.desatualizado]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const value = numero.trim();
    if (!isValidNumeroOS(value)) {
      setInvalid(true);
      return;
    }
    setInvalid(false);
    setRecord(null);
    clearTimeout(modalTimer.current);
    modalTimer.current = setTimeout(() => setModalOs(value), MODAL_DELAY_MS);
    const answer = await scraping.startScraping(value);
    if (answer?.status === 'queued' || answer === null) {
      clearTimeout(modalTimer.current);
      setModalOs(value); // progress, or the error with a retry
    }
  };

  return (
    <div className="layout">
      <main className="page">
        <h1>Registro — busca de ordem de serviço</h1>
        <form className="search" onSubmit={submit} noValidate>
          <label htmlFor="numero-os">Número da OS</label>
          <input
            id="numero-os"
            name="numero-os"
            inputMode="numeric"
            autoComplete="off"
            maxLength={12}
            value={numero}
            aria-invalid={invalid}
            aria-describedby={invalid ? 'numero-os-erro' : undefined}
            onChange={(e) => setNumero(e.target.value)}
          />
          <button type="submit" disabled={scraping.isLoading}>Buscar</button>
          {invalid ? <p id="numero-os-erro" className="field-error">Informe de 1 a 12 dígitos.</p> : null}
        </form>
        {record ? <RecordView data={record.data} via={record.via} lidoEm={record.lidoEm}
          desatualizado={record.desatualizado} /> : null}
      </main>
      <QueuePanel />
      <AsyncScrapingModal
        visible={modalOs !== null}
        numeroOS={modalOs ?? ''}
        taskId={scraping.currentTaskId}
        scraping={scraping}
        onClose={() => setModalOs(null)}
        showEvidence
      />
    </div>
  );
}
