// npm run check:package: the tarball `make web` built (dist/pack/registro-client.tgz), checked
// the way a host application meets it:
//  1. its contents: every export target, 'use client' on the React entry only, no sources
//     or tests, no relative import without an explicit .js extension in any .d.ts (they
//     break under node16/nodenext), every relative import resolving to a packed file;
//  2. installed into a scratch directory (node_modules/@registro/client) and imported by
//     Node (the `import` and `default` conditions);
//  3. test/consumer/usage.tsx type-checked against it under moduleResolution bundler,
//     node16 and nodenext (skipLibCheck off, so the package's own .d.ts are checked).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { webDir } from './paths.mjs';

const tarball = resolve(webDir, 'dist/pack/registro-client.tgz');
const failures = [];
const fail = (message) => failures.push(message);

let listing;
try {
  listing = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
} catch {
  console.error(`${tarball} is missing: run \`make web\` (or npm run build:lib && npm run pack)`);
  process.exit(1);
}
const files = new Set(listing.filter((f) => !f.endsWith('/')).map((f) => f.replace(/^package\//, '')));

// 1. Contents.
const scratch = mkdtempSync(join(tmpdir(), 'registro-package-'));
const installed = join(scratch, 'node_modules/@registro/client');
mkdirSync(installed, { recursive: true });
execFileSync('tar', ['xzf', tarball, '-C', installed, '--strip-components=1']);
const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
const read = (file) => readFileSync(join(installed, file), 'utf8');

for (const [entry, conditions] of Object.entries(manifest.exports)) {
  if (typeof conditions === 'string') continue;
  const keys = Object.keys(conditions);
  if (keys[0] !== 'types') fail(`exports["${entry}"]: "types" must come first (got ${keys.join(', ')})`);
  for (const condition of ['types', 'import', 'default']) {
    const target = conditions[condition];
    if (!target) fail(`exports["${entry}"] has no "${condition}" condition`);
    else if (!files.has(posix.normalize(target))) fail(`exports["${entry}"].${condition} = ${target} is not in the tarball`);
  }
}
for (const peer of ['react', 'react-dom']) {
  if (!manifest.peerDependencies?.[peer]) fail(`"${peer}" is not a peer dependency`);
}
if (Object.keys(manifest.dependencies ?? {}).length) fail(`runtime dependencies: ${Object.keys(manifest.dependencies)}`);
for (const file of files) {
  if (!/^(dist\/(lib|types)\/|package\.json$|README\.md$)/.test(file)) fail(`unexpected file in the tarball: ${file}`);
}
const firstStatement = (file) => read(file).trimStart().split('\n', 1)[0];
const reactEntry = posix.normalize(manifest.exports['./react'].import);
if (!/^['"]use client['"];?$/.test(firstStatement(reactEntry))) fail(`${reactEntry} does not start with 'use client'`);
for (const entry of ['.', './query']) {
  const target = posix.normalize(manifest.exports[entry].import);
  if (/use client/.test(firstStatement(target))) fail(`${target} (server-safe) starts with 'use client'`);
}
const relativeImport = /(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g;
for (const file of files) {
  if (!file.endsWith('.d.ts') && !file.endsWith('.js')) continue;
  for (const [, specifier] of read(file).matchAll(relativeImport)) {
    if (!specifier.endsWith('.js')) {
      fail(`${file}: import '${specifier}' has no .js extension (breaks node16/nodenext)`);
      continue;
    }
    const target = posix.join(posix.dirname(file), specifier);
    const candidates = file.endsWith('.d.ts') ? [target.replace(/\.js$/, '.d.ts')] : [target];
    if (!candidates.some((c) => files.has(c))) fail(`${file}: '${specifier}' resolves to nothing in the tarball`);
  }
}

// 2. Node imports both entries' runtime (the React entry needs React: linked from web/).
for (const dep of ['react', 'react-dom', '@types/react', '@types/react-dom', '@tanstack/react-query', '@tanstack/query-core']) {
  mkdirSync(dirname(join(scratch, 'node_modules', dep)), { recursive: true });
  symlinkSync(join(webDir, 'node_modules', dep), join(scratch, 'node_modules', dep));
}
writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
try {
  execFileSync(process.execPath, ['--input-type=module', '-e', `
    const client = await import('@registro/client');
    const react = await import('@registro/client/react');
    const query = await import('@registro/client/query');
    if (typeof query.taskStatusQueryOptions !== 'function') throw new Error('no taskStatusQueryOptions');
    if (typeof client.createRegistroClient !== 'function') throw new Error('no createRegistroClient');
    if (typeof react.useAsyncScraping !== 'function') throw new Error('no useAsyncScraping');
  `], { cwd: scratch, stdio: 'pipe' });
} catch (error) {
  fail(`node could not import the installed package: ${error.stderr}`);
}

// 3. The consumer's code under each module resolution a host application may use.
cpSync(join(webDir, 'test/consumer/usage.tsx'), join(scratch, 'usage.tsx'));
const tsc = join(webDir, 'node_modules/typescript/bin/tsc');
for (const [module, moduleResolution] of [['ESNext', 'Bundler'], ['Node16', 'Node16'], ['NodeNext', 'NodeNext']]) {
  const config = { compilerOptions: { noEmit: true, strict: true, skipLibCheck: false, target: 'ES2022',
    lib: ['ES2022', 'DOM'], jsx: 'react-jsx', types: [], module, moduleResolution }, files: ['usage.tsx'] };
  writeFileSync(join(scratch, 'tsconfig.json'), JSON.stringify(config));
  const args = ['-p', 'tsconfig.json'];
  try {
    execFileSync(process.execPath, [tsc, ...args], { cwd: scratch, stdio: 'pipe', encoding: 'utf8' });
    console.log(`type-checked under moduleResolution ${moduleResolution}`);
  } catch (error) {
    fail(`tsc --moduleResolution ${moduleResolution}:\n${error.stdout}${error.stderr}`);
  }
}

rmSync(scratch, { recursive: true, force: true });
if (failures.length) {
  console.error(`package check failed (${tarball}):\n- ${failures.join('\n- ')}`);
  process.exit(1);
}
console.log(`package ok: ${files.size} files in ${tarball}`);
