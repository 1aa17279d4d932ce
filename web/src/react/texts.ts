import { ApiError, RequestTimeoutError, TaskFailedError, TaskTimeoutError } from '../client/index.js';

/** Every text the modal shows. Portuguese by default; pass `texts={{...}}` to override any. */
export interface ModalTexts {
  title: (numeroOS: string) => string;
  starting: string;
  pending: string;
  progressLabel: string;
  estimatedTime: (estimate: string) => string;
  queueWaiting: (waiting: number) => string;
  success: string;
  failure: string;
  retry: string;
  close: string;
  cancel: string;
  describeError: (error: Error) => string;
  /** The failure's screenshot (`showEvidence`). */
  evidenceAlt: string;
  evidenceCaption: (evidenciaId: string) => string;
}

export const DEFAULT_TEXTS: ModalTexts = {
  title: (numeroOS) => `Buscando a OS ${numeroOS}`,
  starting: 'Consultando…',
  pending: 'Aguardando na fila…',
  progressLabel: 'Progresso da busca',
  estimatedTime: (estimate) => `Tempo estimado: ${estimate}`,
  queueWaiting: (waiting) =>
    waiting === 0 ? 'Nenhuma tarefa aguardando na fila' :
      waiting === 1 ? '1 tarefa aguardando na fila' : `${waiting} tarefas aguardando na fila`,
  success: 'OS obtida com sucesso',
  failure: 'Não foi possível obter a OS',
  retry: 'Tentar novamente',
  close: 'Fechar',
  cancel: 'Cancelar',
  describeError: describeErrorPt,
  evidenceAlt: 'Tela do sistema de origem quando a busca falhou',
  evidenceCaption: (evidenciaId) => `Evidência ${evidenciaId}`,
};

const REASONS: Record<string, string> = {
  not_found: 'A OS não existe no sistema de origem.',
  login_failed: 'O sistema de origem recusou o acesso.',
  profile_mismatch: 'A página do sistema de origem mudou e não pôde ser lida.',
  retries_exhausted: 'O sistema de origem falhou em todas as tentativas.',
  time_limit: 'A busca excedeu o tempo limite.',
  timeout: 'O sistema de origem não respondeu a tempo.',
  no_result: 'A busca terminou sem devolver a OS.',
};

export function describeErrorPt(error: Error): string {
  if (error instanceof TaskFailedError) return REASONS[error.reason] ?? error.message;
  if (error instanceof TaskTimeoutError) {
    return `A busca não terminou em ${Math.round(error.timeLimitMs / 1000)} s; o acompanhamento foi interrompido.`;
  }
  if (error instanceof RequestTimeoutError) return 'A API não respondeu a tempo.';
  if (error instanceof ApiError) {
    // The synchronous fallback says why its scrape failed (404 not_found, 502 login_failed, ...).
    const reason = error.reason ? REASONS[error.reason] : undefined;
    if (reason) return reason;
    const wait = error.retryAfterMs != null ? ` Tente novamente em ${Math.ceil(error.retryAfterMs / 1000)} s.` : '';
    if (error.status === 401) return 'Chave de acesso inválida ou ausente.';
    if (error.status === 404) return 'OS ou tarefa não encontrada.';
    if (error.status === 422) return 'Número de OS inválido (1 a 12 dígitos).';
    if (error.status === 429) return `Muitas consultas em pouco tempo.${wait}`;
    if (error.status === 503) return `Serviço temporariamente indisponível.${wait}`;
    return `O servidor respondeu com erro ${error.status}.`;
  }
  if (error instanceof TypeError) return 'Sem conexão com a API.';
  return error.message;
}
