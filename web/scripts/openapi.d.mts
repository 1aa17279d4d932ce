export const webDir: string;
export const repoDir: string;
export const typesFile: string;
export function python(): string;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function dumpOpenApi(): any;
export function generateTypes(document?: unknown): Promise<string>;
