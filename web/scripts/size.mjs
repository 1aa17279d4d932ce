// npm run size: gzipped size of the built entry points (run `npm run build:lib` first).
// The client entry is client.js plus the chunk it imports; the React bindings are react.js
// plus the same chunk; React itself is external and not counted.
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { webDir } from './openapi.mjs';

const lib = resolve(webDir, 'dist/lib');
const files = readdirSync(lib).filter((f) => f.endsWith('.js'));
const gz = (names) => names.reduce((n, f) => n + gzipSync(readFileSync(resolve(lib, f)), { level: 9 }).length, 0);
const raw = (names) => names.reduce((n, f) => n + readFileSync(resolve(lib, f)).length, 0);
const imports = (entry) => [entry, ...[...readFileSync(resolve(lib, entry), 'utf8').matchAll(/from "\.\/([^"]+)"/g)].map((m) => m[1])];

const rows = [
  ['@registro/client', imports('client.js')],
  ['@registro/client/react (with the client it uses)', imports('react.js')],
  ['@registro/client/react alone', ['react.js']],
  ['@registro/client/query (with the client it uses)', imports('query.js')],
  ['@registro/client/query alone', ['query.js']],
];
for (const [name, parts] of rows) {
  console.log(`${name.padEnd(50)} ${String(raw(parts)).padStart(6)} B  gzip ${String(gz(parts)).padStart(5)} B   (${parts.join(' + ')})`);
}
console.log(`files: ${files.join(', ')}`);
