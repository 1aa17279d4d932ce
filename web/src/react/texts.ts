import { ApiError, RequestTimeoutError, TaskFailedError, TaskTimeoutError } from '../client/index.js';

/** The languages the package speaks. */
export type Locale = 'pt-BR' | 'en';

/** Every text the modal shows. Set the language and any override per provider
 * (`<RegistroProvider locale texts>`) or per component (`locale`, `texts`). */
export interface ModalTexts {
  title: (numeroOS: string) => string;
  /** The title once the lookup failed. */
  failureTitle: (numeroOS: string) => string;
  starting: string;
  pending: string;
  progressLabel: string;
  estimatedTime: (estimate: string) => string;
  queueWaiting: (waiting: number) => string;
  /** The worker's stage (`etapa`) in the reader's words; null: show the worker's message. */
  stage: (etapa: string, numeroOS: string) => string | null;
  success: string;
  failure: string;
  retry: string;
  /** The retry while the API's Retry-After runs. */
  retryIn: (seconds: number) => string;
  close: string;
  /** Under the progress: closing only stops watching, the search goes on. */
  continuesInBackground: string;
  /** @deprecated closing does not cancel the server's search: the button says `close`. */
  cancel: string;
  describeError: (error: Error) => string;
  /** The failure's screenshot (`showEvidence`). */
  evidenceAlt: string;
  evidenceCaption: (evidenciaId: string) => string;
}

const REASONS_PT: Record<string, string> = {
  not_found: 'A OS não existe no sistema de origem.',
  login_failed: 'O sistema de origem recusou o acesso.',
  profile_mismatch: 'A página do sistema de origem mudou e não pôde ser lida.',
  retries_exhausted: 'O sistema de origem falhou em todas as tentativas.',
  time_limit: 'A busca excedeu o tempo limite.',
  timeout: 'O sistema de origem não respondeu a tempo.',
  no_result: 'A busca terminou sem devolver a OS.',
};

const REASONS_EN: Record<string, string> = {
  not_found: 'The OS does not exist in the source system.',
  login_failed: 'The source system refused the login.',
  profile_mismatch: 'The source system’s page changed and could not be read.',
  retries_exhausted: 'The source system failed on every attempt.',
  time_limit: 'The search took longer than its time limit.',
  timeout: 'The source system did not answer in time.',
  no_result: 'The search ended without returning the OS.',
};

const STAGES_PT: Record<string, (numeroOS: string) => string> = {
  queued: () => 'Aguardando a vez no sistema de origem…',
  waiting_budget: () => 'Aguardando o limite de consultas ao sistema de origem…',
  started: () => 'Busca iniciada',
  connected: () => 'Conectado ao sistema de origem',
  logged_in: () => 'Acesso ao sistema de origem confirmado',
  searching: (n) => `Procurando a OS ${n}`,
  extracting: () => 'Lendo os dados da OS',
  saving: () => 'Salvando o registro',
  retrying: () => 'Falha temporária; nova tentativa agendada',
};

const STAGES_EN: Record<string, (numeroOS: string) => string> = {
  queued: () => 'Waiting for a turn on the source system…',
  waiting_budget: () => 'Waiting for the source system’s request budget…',
  started: () => 'Search started',
  connected: () => 'Connected to the source system',
  logged_in: () => 'Logged in to the source system',
  searching: (n) => `Searching for OS ${n}`,
  extracting: () => 'Reading the OS data',
  saving: () => 'Saving the record',
  retrying: () => 'Temporary failure; another attempt is scheduled',
};

export function describeErrorPt(error: Error): string {
  if (error instanceof TaskFailedError) return REASONS_PT[error.reason] ?? error.message;
  if (error instanceof TaskTimeoutError) {
    return `A busca não terminou em ${Math.round(error.timeLimitMs / 1000)} s; o acompanhamento foi interrompido.`;
  }
  if (error instanceof RequestTimeoutError) return 'A API não respondeu a tempo.';
  if (error instanceof ApiError) {
    // The synchronous fallback says why its scrape failed (404 not_found, 502 login_failed, ...).
    const reason = error.reason ? REASONS_PT[error.reason] : undefined;
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

export function describeErrorEn(error: Error): string {
  if (error instanceof TaskFailedError) return REASONS_EN[error.reason] ?? error.message;
  if (error instanceof TaskTimeoutError) {
    return `The search did not finish within ${Math.round(error.timeLimitMs / 1000)} s; following it stopped.`;
  }
  if (error instanceof RequestTimeoutError) return 'The API did not answer in time.';
  if (error instanceof ApiError) {
    const reason = error.reason ? REASONS_EN[error.reason] : undefined;
    if (reason) return reason;
    const wait = error.retryAfterMs != null ? ` Try again in ${Math.ceil(error.retryAfterMs / 1000)} s.` : '';
    if (error.status === 401) return 'Missing or invalid access key.';
    if (error.status === 404) return 'OS or task not found.';
    if (error.status === 422) return 'Invalid OS number (1 to 12 digits).';
    if (error.status === 429) return `Too many lookups in a short time.${wait}`;
    if (error.status === 503) return `Service temporarily unavailable.${wait}`;
    return `The server answered with error ${error.status}.`;
  }
  if (error instanceof TypeError) return 'No connection to the API.';
  return error.message;
}

export const TEXTS_PT_BR: ModalTexts = {
  title: (numeroOS) => `Buscando a OS ${numeroOS}`,
  failureTitle: (numeroOS) => `Não foi possível obter a OS ${numeroOS}`,
  starting: 'Consultando…',
  pending: 'Aguardando na fila…',
  progressLabel: 'Progresso da busca',
  estimatedTime: (estimate) => `Tempo estimado: ${estimate}`,
  queueWaiting: (waiting) =>
    waiting === 0 ? 'Nenhuma tarefa aguardando na fila' :
      waiting === 1 ? '1 tarefa aguardando na fila' : `${waiting} tarefas aguardando na fila`,
  stage: (etapa, numeroOS) => STAGES_PT[etapa]?.(numeroOS) ?? null,
  success: 'OS obtida com sucesso',
  failure: 'Não foi possível obter a OS',
  retry: 'Tentar novamente',
  retryIn: (seconds) => `Tentar novamente em ${seconds} s`,
  close: 'Fechar',
  continuesInBackground: 'Fechar não interrompe a busca: ela continua no servidor e a OS fica salva.',
  cancel: 'Cancelar',
  describeError: describeErrorPt,
  evidenceAlt: 'Tela do sistema de origem quando a busca falhou',
  evidenceCaption: (evidenciaId) => `Evidência ${evidenciaId}`,
};

export const TEXTS_EN: ModalTexts = {
  title: (numeroOS) => `Looking up OS ${numeroOS}`,
  failureTitle: (numeroOS) => `Could not get OS ${numeroOS}`,
  starting: 'Asking…',
  pending: 'Waiting in the queue…',
  progressLabel: 'Search progress',
  estimatedTime: (estimate) => `Estimated time: ${estimate}`,
  queueWaiting: (waiting) =>
    waiting === 0 ? 'No task waiting in the queue' :
      waiting === 1 ? '1 task waiting in the queue' : `${waiting} tasks waiting in the queue`,
  stage: (etapa, numeroOS) => STAGES_EN[etapa]?.(numeroOS) ?? null,
  success: 'OS retrieved',
  failure: 'Could not get the OS',
  retry: 'Try again',
  retryIn: (seconds) => `Try again in ${seconds} s`,
  close: 'Close',
  continuesInBackground: 'Closing does not stop the search: it goes on on the server and the OS is kept.',
  cancel: 'Cancel',
  describeError: describeErrorEn,
  evidenceAlt: 'The source system’s page when the search failed',
  evidenceCaption: (evidenciaId) => `Evidence ${evidenciaId}`,
};

export const TEXTS: Record<Locale, ModalTexts> = { 'pt-BR': TEXTS_PT_BR, en: TEXTS_EN };

/** Portuguese (pt-BR), the default. */
export const DEFAULT_TEXTS: ModalTexts = TEXTS_PT_BR;
