import { useEffect, useState } from 'react';
import { type Alteracao, type OsData, isAbortError, nextHistoricoCursor } from '../src/client';
import { useRegistroClient } from '../src/react';
import { formatAge, formatDate, formatField } from './format';

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

export interface RecordViewProps {
  data: OsData;
  via: string | null;
  /** When it was read from the legacy system (ISO-8601). */
  lidoEm: string | null;
  desatualizado?: boolean;
}

export function RecordView({ data, via, lidoEm, desatualizado }: RecordViewProps) {
  const ageSeconds = lidoEm ? (Date.now() - Date.parse(lidoEm)) / 1000 : null;
  return (
    <article className="record" aria-labelledby="record-title">
      <h2 id="record-title" tabIndex={-1}>OS {String(data.numero_os)}</h2>
      <p className="record__summary">
        {String(data.cliente ?? '')} · {String(data.equipamento ?? '')}
        {via ? <span className="record__via" data-via={via}> — obtida {VIA[via] ?? via}</span> : null}
      </p>
      {lidoEm ? (
        <p className="record__freshness" data-lido-em={lidoEm}>
          {`Lida do sistema de origem em ${formatDate(lidoEm)}`}
          {ageSeconds != null && !Number.isNaN(ageSeconds) ? ` (${formatAge(ageSeconds)})` : ''}
          {desatualizado ? ' — desatualizada, atualizando…' : ''}
        </p>
      ) : null}
      {SECTIONS.map(({ key, title }) => (
        <section key={key} className="record__section" aria-label={title}>
          <h3>{title}</h3>
          <dl>
            {Object.entries((data[key] ?? {}) as Record<string, unknown>).map(([field, value]) => (
              <div key={field} className="record__row">
                <dt>{label(field)}</dt>
                <dd data-field={field}>{formatField(field, value)}</dd>
              </div>
            ))}
          </dl>
        </section>
      ))}
      <History numeroOS={String(data.numero_os)} lidoEm={lidoEm} />
    </article>
  );
}

/** The changes later reads found, newest first, ten at a time. */
function History({ numeroOS, lidoEm }: { numeroOS: string; lidoEm: string | null }) {
  const client = useRegistroClient();
  const [changes, setChanges] = useState<Alteracao[] | null>(null);
  const [total, setTotal] = useState(0);
  const [cursor, setCursor] = useState<number | null>(null);
  const [failed, setFailed] = useState(false);

  const load = (antesDe: number | undefined, signal?: AbortSignal) =>
    client.historico(numeroOS, { limite: 10, antesDe, signal }).then((page) => {
      setChanges((previous) => (antesDe === undefined ? page.alteracoes : [...(previous ?? []), ...page.alteracoes]));
      setTotal(page.total);
      setCursor(nextHistoricoCursor(page));
    }, (error: unknown) => {
      if (!isAbortError(error)) setFailed(true);
    });

  useEffect(() => {
    const controller = new AbortController();
    setChanges(null);
    setFailed(false);
    void load(undefined, controller.signal);
    return () => controller.abort();
    // Reloaded per OS and per read (lidoEm).
  }, [client, numeroOS, lidoEm]);

  return (
    <section className="record__history" aria-label="Histórico">
      <h3>Histórico</h3>
      {failed ? <p>Histórico indisponível.</p> : changes === null ? <p>Carregando…</p> :
        changes.length === 0 ? <p data-testid="history-empty">Nenhuma alteração encontrada por leituras posteriores.</p> : (
          <>
            <p className="record__history-total">{`${total} ${total === 1 ? 'alteração' : 'alterações'}`}</p>
            <ol>
              {changes.map((change) => (
                <li key={change.id} data-testid="history-change">
                  <strong>{label(change.campo.split('.').pop() ?? change.campo)}</strong>
                  {`: ${show(change.campo, change.valor_anterior)} → ${show(change.campo, change.valor_novo)}`}
                  <span className="record__history-when">{` (${formatDate(change.observado_em)})`}</span>
                </li>
              ))}
            </ol>
            {cursor !== null ? <button type="button" onClick={() => void load(cursor)}>Mais antigas</button> : null}
          </>
        )}
    </section>
  );
}

function show(campo: string, value: string | null): string {
  return formatField(campo.split('.').pop() ?? campo, value);
}

// Labels with their accents; the units come with the values (format.ts).
const LABELS: Record<string, string> = {
  cnpj: 'CNPJ', razao_social: 'Razão social', inscricao_estadual: 'Inscrição estadual', numero: 'Número',
  uf: 'UF', cep: 'CEP', email: 'E-mail', contato_nome: 'Contato', contato_cargo: 'Cargo do contato',
  numero_serie: 'Número de série', potencia_cv: 'Potência', tensao_v: 'Tensão', corrente_a: 'Corrente',
  rotacao_rpm: 'Rotação', frequencia_hz: 'Frequência', ano_fabricacao: 'Ano de fabricação',
  grau_protecao: 'Grau de proteção', carcaca: 'Carcaça', peso_kg: 'Peso', tag_identificacao: 'Tag',
  classe_isolamento: 'Classe de isolamento', numero_os: 'Número da OS', data_abertura: 'Abertura',
  data_previsao: 'Previsão', data_conclusao: 'Conclusão', setor: 'Setor', tecnico_responsavel: 'Técnico responsável',
  defeito_relatado: 'Defeito relatado', diagnostico: 'Diagnóstico', servico_executado: 'Serviço executado',
  horas_trabalhadas: 'Horas trabalhadas', valor_mao_obra: 'Mão de obra', valor_pecas: 'Peças',
  valor_total: 'Total', garantia_dias: 'Garantia', nota_fiscal: 'Nota fiscal', observacoes: 'Observações',
  telefone: 'Telefone',
};

function label(field: string): string {
  const words = field.replace(/_/g, ' ');
  return LABELS[field] ?? words.charAt(0).toUpperCase() + words.slice(1);
}
