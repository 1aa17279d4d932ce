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

// Labels with their accents and units; any other field shows its name, spaced.
const LABELS: Record<string, string> = {
  cnpj: 'CNPJ', razao_social: 'Razão social', inscricao_estadual: 'Inscrição estadual', numero: 'Número',
  uf: 'UF', cep: 'CEP', email: 'E-mail', contato_nome: 'Contato', contato_cargo: 'Cargo do contato',
  numero_serie: 'Número de série', potencia_cv: 'Potência (cv)', tensao_v: 'Tensão (V)', corrente_a: 'Corrente (A)',
  rotacao_rpm: 'Rotação (rpm)', frequencia_hz: 'Frequência (Hz)', ano_fabricacao: 'Ano de fabricação',
  grau_protecao: 'Grau de proteção', carcaca: 'Carcaça', peso_kg: 'Peso (kg)', tag_identificacao: 'Tag',
  classe_isolamento: 'Classe de isolamento', numero_os: 'Número da OS', data_abertura: 'Abertura',
  data_previsao: 'Previsão', data_conclusao: 'Conclusão', setor: 'Setor', tecnico_responsavel: 'Técnico responsável',
  defeito_relatado: 'Defeito relatado', diagnostico: 'Diagnóstico', servico_executado: 'Serviço executado',
  horas_trabalhadas: 'Horas trabalhadas', valor_mao_obra: 'Mão de obra (R$)', valor_pecas: 'Peças (R$)',
  valor_total: 'Total (R$)', garantia_dias: 'Garantia (dias)', nota_fiscal: 'Nota fiscal', observacoes: 'Observações',
};

function label(field: string): string {
  const words = field.replace(/_/g, ' ');
  return LABELS[field] ?? words.charAt(0).toUpperCase() + words.slice(1);
}
