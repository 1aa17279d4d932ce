// Answer types of the API, read from the generated OpenAPI types (src/client/openapi.d.ts)
// through the paths, so that renaming a schema on the server changes nothing here.
import type { paths } from './openapi.js';

type JsonOf<R> = R extends { content: { 'application/json': infer Body } } ? Body : never;

type LookupOperation = paths['/api/desenvolvimento/buscar-os-async/{numero_os}']['post'];
type StatusOperation = paths['/api/desenvolvimento/scraping-status/{task_id}']['get'];
type QueueOperation = paths['/api/desenvolvimento/queue-status']['get'];
type EvidenceOperation = paths['/api/desenvolvimento/evidencias/{evidencia_id}']['get'];

/** `POST /api/desenvolvimento/buscar-os-async/{numero_os}` (200). */
export type LookupAnswer = JsonOf<LookupOperation['responses'][200]>;
/** The OS was already stored: `data` is the record. */
export type FoundExisting = Extract<LookupAnswer, { status: 'found_existing' }>;
/** A scrape was queued (or already was): follow `task_id`. */
export type Queued = Extract<LookupAnswer, { status: 'queued' }>;
/** The queue was down; the API scraped synchronously (`via: "sincrono"`). */
export type SyncScraped = Extract<LookupAnswer, { status: 'success' }>;
/** `GET /api/desenvolvimento/scraping-status/{task_id}` (200). */
export type TaskStatus = JsonOf<StatusOperation['responses'][200]>;
export type TaskState = TaskStatus['status'];
/** What a successful task produced. */
export type ScrapeResult = NonNullable<TaskStatus['result']>;
/** `GET /api/desenvolvimento/queue-status` (200). */
export type QueueStatus = JsonOf<QueueOperation['responses'][200]>;
export type QueueInfo = QueueStatus['queue_info'];
/** The record of one OS: `numero_os`, `cliente`, `equipamento` and every field under
 * `ordem_servico`, `cliente_dados`, `equipamento_dados`. */
export type OsData = FoundExisting['data'];
/** `GET /api/desenvolvimento/evidencias/{evidencia_id}` (200): a failed scrape's evidence. */
export type Evidence = JsonOf<EvidenceOperation['responses'][200]>;
/** `GET /api/desenvolvimento/historico/{numero_os}` (200): one page of changes. */
export type Historico = JsonOf<paths['/api/desenvolvimento/historico/{numero_os}']['get']['responses'][200]>;
/** One change of one field, found by a later read. */
export type Alteracao = Historico['alteracoes'][number];
