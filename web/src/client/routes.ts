// Request paths, methods, path parameters, queries and bodies, all read from the generated
// `paths` and `operations` (src/client/openapi.d.ts): a route renamed or a parameter
// changed on the server fails to compile here, not at run time.
import type { components, operations, paths } from './openapi.js';

type Method = 'get' | 'post';
export type OperationId = keyof operations;

/** The path and method serving operation `K`, as the generated `paths` declare them
 * (`never` when no path does). */
export type RouteOf<K extends OperationId> = {
  [P in keyof paths]: {
    [M in Method]: paths[P][M] extends operations[K]
      ? operations[K] extends paths[P][M] ? { readonly method: Uppercase<M>; readonly path: P } : never
      : never;
  }[Method];
}[keyof paths];

/** The operations this client calls and where they are. */
export const ROUTES = {
  buscar_os_async: { method: 'POST', path: '/api/desenvolvimento/buscar-os-async/{numero_os}' },
  scraping_status: { method: 'GET', path: '/api/desenvolvimento/scraping-status/{task_id}' },
  queue_status: { method: 'GET', path: '/api/desenvolvimento/queue-status' },
  historico_os: { method: 'GET', path: '/api/desenvolvimento/historico/{numero_os}' },
  evidencia: { method: 'GET', path: '/api/desenvolvimento/evidencias/{evidencia_id}' },
  evidencia_screenshot: { method: 'GET', path: '/api/desenvolvimento/evidencias/{evidencia_id}/screenshot.png' },
} as const satisfies { [K in OperationId]?: RouteOf<K> };

export type RoutedOperation = keyof typeof ROUTES;

type Parameters<K extends OperationId> = operations[K]['parameters'];
/** Path parameters of operation `K` (`{ numero_os: string }`, ...). */
export type PathParams<K extends OperationId> = Parameters<K> extends { path: infer P } ? P : never;
/** Query parameters of operation `K`. */
export type QueryParams<K extends OperationId> = NonNullable<Parameters<K>['query']>;

type Json<R> = R extends { content: { 'application/json': infer Body } } ? Body : never;
type Responses<K extends OperationId> = operations[K]['responses'];
/** The 200 answer's JSON body of operation `K`. */
export type OkBody<K extends OperationId> = Json<Responses<K>[200 & keyof Responses<K>]>;
/** The JSON bodies operation `K` declares for its error answers (4xx, 5xx). */
export type ErrorBodyOf<K extends OperationId> = {
  [S in keyof Responses<K>]: S extends 200 ? never : Json<Responses<K>[S]>;
}[keyof Responses<K>];

/** Every error body the API declares: `{detail}`, or the synchronous fallback's
 * `{status, message, reason, fallback_reason, evidencia_id, via}`. */
export type ApiErrorBody = components['schemas']['ErrorBody'] | components['schemas']['FallbackError'];

export interface CallArgs<K extends OperationId> {
  path?: PathParams<K>;
  query?: QueryParams<K>;
}

/** The request path of `op` with its parameters filled in (encoded) and its query, if any
 * parameter is set (`URLSearchParams#toString`, no `size`: older browsers lack it). */
export function pathOf<K extends RoutedOperation>(op: K, args: CallArgs<K> = {}): string {
  const values = (args.path ?? {}) as Record<string, unknown>;
  const path = ROUTES[op].path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined || value === null) throw new TypeError(`${op}: path parameter ${name} is missing`);
    return encodeURIComponent(String(value));
  });
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries((args.query ?? {}) as Record<string, unknown>)) {
    if (value !== undefined && value !== null) search.append(name, String(value));
  }
  const query = search.toString();
  return query ? `${path}?${query}` : path;
}
