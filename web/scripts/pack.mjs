// npm run pack: the installable tarball of the built package (after `npm run build:lib`),
// in dist/pack/registro-client.tgz (a stable name: the consumer tests install it).
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { webDir } from './paths.mjs';

export const packDir = resolve(webDir, 'dist/pack');
export const tarball = resolve(packDir, 'registro-client.tgz');

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const built of ['dist/lib/client.js', 'dist/lib/react.js', 'dist/types/client/index.d.ts']) {
    try {
      statSync(resolve(webDir, built));
    } catch {
      console.error(`${built} is missing: run \`npm run build:lib\` first`);
      process.exit(1);
    }
  }
  rmSync(packDir, { recursive: true, force: true });
  mkdirSync(packDir, { recursive: true });
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', packDir], { cwd: webDir, encoding: 'utf8' });
  const [info] = JSON.parse(out);
  renameSync(resolve(packDir, info.filename), tarball);
  console.log(`${tarball}: ${info.entryCount} files, ${info.size} B packed, ${info.unpackedSize} B unpacked`);
}
