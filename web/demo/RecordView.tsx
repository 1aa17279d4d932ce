import type { OsData } from '../src/client';

const SECTIONS = [
  { key: 'cliente_dados', title: 'Cliente' },
  { key: 'equipamento_dados', title: 'Equipamento' },
  { key: 'ordem_servico', title: 'Ordem de serviço' },
] as const;

const VIA: Record<string, string> = {
  banco_local: 'do banco local',
  fila: 'pela fila de workers',
  sincrono: 'por busca direta (fila indisponível)',
};

export function RecordView({ data, via }: { data: OsData; via: string | null }) {
  return (
    <article className="record" aria-labelledby="record-title">
      <h2 id="record-title" tabIndex={-1}>OS {String(data.numero_os)}</h2>
      <p className="record__summary">
        {String(data.cliente ?? '')} · {String(data.equipamento ?? '')}
        {via ? <span className="record__via" data-via={via}> — obtida {VIA[via] ?? via}</span> : null}
      </p>
      {SECTIONS.map(({ key, title }) => (
        <section key={key} className="record__section" aria-label={title}>
          <h3>{title}</h3>
          <dl>
            {Object.entries((data[key] ?? {}) as Record<string, unknown>).map(([field, value]) => (
              <div key={field} className="record__row">
                <dt>{label(field)}</dt>
                <dd>{value == null || value === '' ? '—' : String(value)}</dd>
              </div>
            ))}
          </dl>
        </section>
      ))}
    </article>
  );
}

function label(field: string): string {
  const words = field.replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}
