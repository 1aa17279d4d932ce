import { type CSSProperties, type KeyboardEvent, useEffect, useId, useRef, useState } from 'react';
import { createPortal } from 'react-dom';
import { ApiError, type OsData, type RegistroClient, evidenceIdOf } from '../client/index.js';
import { useRegistroTexts } from './context.js';
import { EvidenceScreenshot } from './EvidenceScreenshot.js';
import type { Locale, ModalTexts } from './texts.js';
import { type AsyncScraping, useAsyncScraping } from './useAsyncScraping.js';
import { useQueueStatus } from './useQueueStatus.js';

export interface AsyncScrapingModalProps {
  visible: boolean;
  numeroOS: string;
  /** The task to follow (the guide's prop). Ignored when `scraping` is given. */
  taskId?: string | null;
  /** Called on Escape and on "Fechar"; polling stops at once (the server's search goes
   * on, and its record is stored). */
  onClose: () => void;
  onSuccess?: (data: OsData) => void;
  onError?: (error: Error) => void;
  /** The page's own `useAsyncScraping()`: the modal shows its state and polls nothing
   * itself (one poller per task). Without it the modal follows `taskId` on its own. */
  scraping?: AsyncScraping;
  client?: RegistroClient;
  /** The language (default: the provider's, else `pt-BR`). */
  locale?: Locale;
  /** Any text overridden (over the provider's `texts`). */
  texts?: Partial<ModalTexts>;
  /** Show how many tasks wait in the queue while this one is PENDING (default true). */
  showQueue?: boolean;
  /** No inline styles: style the `registro-modal*` classes yourself. */
  unstyled?: boolean;
  /** On a failure that kept evidence, show the screenshot of the legacy page it failed
   * on (fetched with the client's key). Off by default: it is for operators, and it
   * shows the legacy system's own page. */
  showEvidence?: boolean;
}

export function AsyncScrapingModal(props: AsyncScrapingModalProps) {
  return props.scraping ? <ModalView {...props} scraping={props.scraping} /> : <SelfPolledModal {...props} />;
}

export default AsyncScrapingModal;

function SelfPolledModal(props: AsyncScrapingModalProps) {
  const scraping = useAsyncScraping({ client: props.client });
  const { follow, cancel } = scraping;
  const { visible, taskId, numeroOS } = props;
  useEffect(() => {
    if (!visible || !taskId) return;
    follow(taskId, numeroOS);
    return cancel;
  }, [visible, taskId, numeroOS, follow, cancel]);
  return <ModalView {...props} scraping={scraping} />;
}

const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), select, textarea, [tabindex]:not([tabindex="-1"])';

function ModalView(props: AsyncScrapingModalProps & { scraping: AsyncScraping }) {
  const { visible, numeroOS, onClose, onSuccess, onError, scraping, unstyled } = props;
  const texts = useRegistroTexts(props.locale, props.texts);
  const dialogRef = useRef<HTMLDivElement>(null);
  const titleId = useId();
  const messageId = useId();
  const pending = visible && (scraping.status === 'PENDING' || scraping.status === 'starting');
  const { queue } = useQueueStatus({ enabled: pending && props.showQueue !== false, client: props.client });

  // onSuccess / onError once per outcome.
  const reported = useRef<unknown>(null);
  useEffect(() => {
    if (!visible) return;
    if (scraping.status === 'SUCCESS' && scraping.result && reported.current !== scraping.result) {
      reported.current = scraping.result;
      onSuccess?.(scraping.result);
    } else if (scraping.status === 'FAILURE' && scraping.error && reported.current !== scraping.error) {
      reported.current = scraping.error;
      onError?.(scraping.error);
    }
  }, [visible, scraping.status, scraping.result, scraping.error, onSuccess, onError]);

  // Focus moves into the dialog when it opens and back where it was when it closes; the
  // rest of the page is inert meanwhile (no click, no focus, hidden from screen readers).
  useEffect(() => {
    if (!visible) return;
    const previous = document.activeElement as HTMLElement | null;
    const dialog = dialogRef.current;
    const backdrop = dialog?.parentElement;
    const inert = Array.from(document.body.children).filter(
      (el): el is HTMLElement => el instanceof HTMLElement && el !== backdrop && !el.hasAttribute('inert'));
    for (const el of inert) el.setAttribute('inert', '');
    const first = dialog?.querySelector<HTMLElement>(FOCUSABLE);
    (first ?? dialog)?.focus();
    return () => {
      for (const el of inert) el.removeAttribute('inert');
      previous?.focus?.();
    };
  }, [visible]);

  // Retry-After: the retry counts the seconds down (and does nothing until then).
  const retryAfterMs = scraping.status === 'FAILURE' && scraping.error instanceof ApiError ? scraping.error.retryAfterMs : null;
  const countdown = useCountdown(visible ? retryAfterMs : null, scraping.error);

  // A failure brings the retry: move focus to it (the alert is announced anyway).
  const failedNow = visible && scraping.status === 'FAILURE';
  useEffect(() => {
    if (failedNow) dialogRef.current?.querySelector<HTMLElement>('.registro-modal__retry')?.focus();
  }, [failedNow]);

  if (!visible || typeof document === 'undefined') return null;

  const close = () => {
    if (scraping.isLoading) scraping.cancel(); // closing stops polling
    onClose();
  };

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      close();
      return;
    }
    if (event.key !== 'Tab' || !dialogRef.current) return;
    const items = Array.from(dialogRef.current.querySelectorAll<HTMLElement>(FOCUSABLE));
    if (items.length === 0) {
      event.preventDefault();
      return;
    }
    const first = items[0]!;
    const last = items[items.length - 1]!;
    const active = document.activeElement;
    if (event.shiftKey && (active === first || !dialogRef.current.contains(active))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (active === last || !dialogRef.current.contains(active))) {
      event.preventDefault();
      first.focus();
    }
  };

  const { status, progress, estimatedTime, error } = scraping;
  const failed = status === 'FAILURE';
  const evidenciaId = failed ? evidenceIdOf(error) : null;
  const stageText = scraping.stage ? texts.stage(scraping.stage, numeroOS) : null;
  const message = failed && error ? texts.describeError(error) :
    status === 'SUCCESS' ? texts.success :
      status === 'starting' ? texts.starting :
        status === 'PENDING' ? stageText ?? texts.pending : stageText ?? scraping.message ?? texts.pending;
  const determinate = status === 'PROGRESS' || status === 'SUCCESS';
  const shown = status === 'SUCCESS' ? 100 : progress;
  const s = unstyled ? NO_STYLES : STYLES;

  return createPortal(
    <div className="registro-modal-backdrop" style={s.backdrop}>
      <div
        ref={dialogRef}
        className="registro-modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={messageId}
        tabIndex={-1}
        onKeyDown={onKeyDown}
        style={s.panel}
      >
        <h2 id={titleId} className="registro-modal__title" style={s.title}>
          {failed ? texts.failureTitle(numeroOS) : texts.title(numeroOS)}
        </h2>
        {failed ? null : (
          <div
            className="registro-modal__bar"
            role="progressbar"
            aria-label={texts.progressLabel}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={determinate ? shown : undefined}
            aria-valuetext={determinate ? `${shown}% — ${message}` : message}
            data-state={status}
            style={s.track}
          >
            <div className="registro-modal__fill" style={{ ...s.fill, width: `${determinate ? shown : 0}%` }} />
          </div>
        )}
        <p id={messageId} className="registro-modal__message" role={failed ? 'alert' : 'status'}>
          {determinate && !failed ? `${shown}% · ` : ''}{message}
        </p>
        {scraping.isLoading && estimatedTime ? (
          <p className="registro-modal__estimate">{texts.estimatedTime(estimatedTime)}</p>
        ) : null}
        {status === 'PENDING' && queue && props.showQueue !== false ? (
          <p className="registro-modal__queue">{texts.queueWaiting(queue.queue_info.scheduled_tasks)}</p>
        ) : null}
        {scraping.isLoading && status !== 'starting' ? (
          <p className="registro-modal__note" style={s.note}>{texts.continuesInBackground}</p>
        ) : null}
        {failed && props.showEvidence && evidenciaId ? (
          <EvidenceScreenshot evidenciaId={evidenciaId} alt={texts.evidenceAlt} caption={texts.evidenceCaption(evidenciaId)}
            client={props.client} unstyled={unstyled} />
        ) : null}
        <div className="registro-modal__actions" style={s.actions}>
          {failed ? (
            <button type="button" className="registro-modal__retry" aria-disabled={countdown > 0 ? true : undefined}
              data-countdown={countdown > 0 ? countdown : undefined}
              onClick={() => { if (countdown <= 0) void scraping.retry(); }}>
              {countdown > 0 ? texts.retryIn(countdown) : texts.retry}
            </button>
          ) : null}
          <button type="button" className="registro-modal__close" onClick={close}>
            {texts.close}
          </button>
        </div>
      </div>
    </div>,
    document.body,
  );
}

/** Whole seconds left of `ms` (counted from when it was set for `key`), down to 0. */
function useCountdown(ms: number | null, key: unknown): number {
  const [left, setLeft] = useState(0);
  useEffect(() => {
    if (ms == null || ms <= 0) {
      setLeft(0);
      return;
    }
    const end = Date.now() + ms;
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      setLeft(seconds);
      if (seconds > 0) timer = setTimeout(tick, Math.min(1000, end - Date.now() - (seconds - 1) * 1000));
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    tick();
    return () => clearTimeout(timer);
  }, [ms, key]);
  return left;
}

type StyleSet = Record<'backdrop' | 'panel' | 'title' | 'track' | 'fill' | 'actions' | 'note', CSSProperties | undefined>;

const NO_STYLES: StyleSet = {
  backdrop: undefined, panel: undefined, title: undefined, track: undefined, fill: undefined, actions: undefined, note: undefined,
};

const STYLES: StyleSet = {
  backdrop: { position: 'fixed', inset: 0, background: 'rgba(15, 23, 42, 0.55)', display: 'flex',
    alignItems: 'center', justifyContent: 'center', zIndex: 1000 },
  panel: { background: '#fff', color: '#0f172a', borderRadius: 8, padding: '1.25rem 1.5rem',
    width: 'min(30rem, 92vw)', boxShadow: '0 10px 30px rgba(0,0,0,0.3)' },
  title: { margin: '0 0 0.75rem', fontSize: '1.2rem' },
  track: { height: 10, borderRadius: 5, background: '#e2e8f0', overflow: 'hidden' },
  fill: { height: '100%', background: '#2563eb', transition: 'width 0.3s ease' },
  actions: { display: 'flex', gap: '0.5rem', justifyContent: 'flex-end', marginTop: '1rem' },
  note: { fontSize: '0.85rem', color: '#475569', margin: '0.5rem 0 0' },
};
