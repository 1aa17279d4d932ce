import { type CSSProperties, useEffect, useState } from 'react';
import { type RegistroClient, isAbortError } from '../client/index.js';
import { useRegistroClient } from './context.js';

export interface EvidenceScreenshotProps {
  /** The `evidencia_id` of a failure (`evidenceIdOf(error)`). */
  evidenciaId: string;
  alt: string;
  caption?: string;
  client?: RegistroClient;
  /** No inline styles: style `.registro-evidence` yourself. */
  unstyled?: boolean;
}

/** The screenshot of a failed lookup's page (a link to it full size), fetched with the
 * client's headers (the key) into an object URL, released when the component goes or the
 * id changes. Shows nothing until it arrives, nor if it cannot be fetched (no screenshot
 * kept, or no longer kept). */
export function EvidenceScreenshot({ evidenciaId, alt, caption, client: given, unstyled }: EvidenceScreenshotProps) {
  const client = useRegistroClient(given);
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    let objectUrl: string | null = null;
    client.evidenceScreenshot(evidenciaId, { signal: controller.signal }).then(
      (blob) => {
        if (controller.signal.aborted) return;
        objectUrl = URL.createObjectURL(blob);
        setUrl(objectUrl);
      },
      (error: unknown) => {
        if (!isAbortError(error)) setUrl(null);
      },
    );
    return () => {
      controller.abort();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      setUrl(null);
    };
  }, [client, evidenciaId]);
  if (!url) return null;
  return (
    <figure className="registro-evidence" data-evidencia-id={evidenciaId} style={unstyled ? undefined : FIGURE}>
      <a href={url} target="_blank" rel="noopener noreferrer">
        <img src={url} alt={alt} style={unstyled ? undefined : IMAGE} />
      </a>
      {caption ? <figcaption style={unstyled ? undefined : CAPTION}>{caption}</figcaption> : null}
    </figure>
  );
}

const FIGURE: CSSProperties = { margin: '0.75rem 0 0' };
const IMAGE: CSSProperties = { maxWidth: '100%', border: '1px solid #cbd5e1' };
const CAPTION: CSSProperties = { fontSize: '0.8rem', color: '#475569' };
