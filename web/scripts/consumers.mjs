// Consumer tests: scratch host applications (consumers/vite-app, consumers/next-app) that
// install the packed tarball (dist/pack/registro-client.tgz), type-check under
// moduleResolution bundler and nodenext, and build.
//
//   node scripts/consumers.mjs install   # build phase (make web-consumers): npm ci per app
//   node scripts/consumers.mjs test      # test phase (npm run test:consumers): no network
//
// Each app's node_modules comes from its committed lockfile and is kept outside the repo,
// keyed by what it was installed from (package.json, package-lock.json, Node's major
// version): ~/.cache/registro-tools/web-consumers/<app>-<hash>/node_modules
// (REGISTRO_TOOLS_CACHE moves it, as for the other tools). A test run
// copies the app into <that dir>/runs/<id>/ (so the cached node_modules is its parent's
// and resolves as in a workspace), installs the tarball there with `npm install
// --offline`, checks and builds, then deletes the copy. Under CI=true a missing cache is
// a failure; elsewhere the app is skipped with a note.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { webDir } from './paths.mjs';

const ALL_APPS = ['vite-app', 'next-app'];
// `node scripts/consumers.mjs test next-app`: one app only.
const APPS = process.argv.length > 3 ? process.argv.slice(3) : ALL_APPS;
const consumersDir = resolve(webDir, 'consumers');
const tarball = resolve(webDir, 'dist/pack/registro-client.tgz');
// The same cache as the other built tools (scripts/build-*.sh): REGISTRO_TOOLS_CACHE.
const cacheRoot = resolve(process.env.REGISTRO_TOOLS_CACHE || join(homedir(), '.cache/registro-tools'), 'web-consumers');
const ci = process.env.CI === 'true';
// No telemetry, no update checks: a test run sends nothing anywhere.
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', npm_config_update_notifier: 'false', CI: ci ? 'true' : '' };

export function cacheDirOf(app) {
  const hash = createHash('sha256');
  for (const file of ['package.json', 'package-lock.json']) hash.update(readFileSync(join(consumersDir, app, file)));
  hash.update(`node ${process.versions.node.split('.')[0]}`);
  return join(cacheRoot, `${app}-${hash.digest('hex').slice(0, 16)}`);
}

function run(command, args, cwd, label) {
  const started = performance.now();
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (result.status !== 0) {
    throw new Error(`${label} failed (exit ${result.status}, ${seconds} s):\n${result.stdout}${result.stderr}`);
  }
  console.log(`  ${label}: ${seconds} s`);
  return result.stdout;
}

/** `run`, without blocking: the two type-checks of an app go side by side. */
function runAsync(command, args, cwd, label) {
  const started = performance.now();
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk; });
    child.stderr.on('data', (chunk) => { output += chunk; });
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      if (code !== 0) reject(new Error(`${label} failed (exit ${code}, ${seconds} s):\n${output}`));
      else {
        console.log(`  ${label}: ${seconds} s`);
        resolveRun(output);
      }
    });
  });
}

function install() {
  for (const app of APPS) {
    const dir = cacheDirOf(app);
    if (existsSync(join(dir, '.installed'))) {
      console.log(`${app}: node_modules cached in ${dir}`);
      continue;
    }
    const staging = `${dir}.tmp-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    for (const file of ['package.json', 'package-lock.json']) cpSync(join(consumersDir, app, file), join(staging, file));
    console.log(`${app}: npm ci into ${dir}`);
    try {
      run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], staging, `${app} npm ci`);
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      throw error;
    }
    writeFileSync(join(staging, '.installed'), new Date().toISOString());
    try {
      renameSync(staging, dir);
    } catch {
      rmSync(staging, { recursive: true, force: true }); // another run installed it meanwhile
    }
  }
}

/** What the built app must contain: a sign that the package's code was bundled and ran. */
function checkOutput(app, runDir) {
  if (app === 'vite-app') {
    const assets = join(runDir, 'dist/assets');
    const js = readdirSync(assets).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(assets, f), 'utf8')).join('\n');
    if (!js.includes('/api/desenvolvimento')) throw new Error('vite-app: the bundle does not contain the client');
    if (!js.includes('registro/') && !js.includes('`registro`') && !js.includes('"registro"')) {
      throw new Error('vite-app: the bundle does not contain the query keys');
    }
    if (!js.includes('role:`dialog`') && !js.includes('role:"dialog"')) {
      throw new Error('vite-app: the bundle does not contain AsyncScrapingModal');
    }
    return;
  }
  // Prerendered at build time: the server component ran the client entry on the server,
  // and the client components (the app's and the package's) were rendered on the server.
  const html = readFileSync(join(runDir, '.next/server/app/index.html'), 'utf8');
  for (const expected of ['OS 12345: valid (server)', 'did not finish within its time limit of 300 s', 'Buscar OS 12345',
    'query key registro/status/scraping_12345']) {
    if (!html.includes(expected)) throw new Error(`next-app: the prerendered page lacks "${expected}"`);
  }
}

async function test() {
  if (!existsSync(tarball)) throw new Error(`${tarball} is missing: run \`make web\``);
  let skipped = 0;
  for (const app of APPS) {
    const dir = cacheDirOf(app);
    if (!existsSync(join(dir, '.installed'))) {
      const note = `${app}: no node_modules in ${dir}: run \`make web-consumers\` (npm ci from its lockfile)`;
      if (ci) throw new Error(note);
      console.log(`SKIPPED ${note}`);
      skipped += 1;
      continue;
    }
    const started = performance.now();
    // Copies left by a run that was killed (older than a day) go.
    for (const old of existsSync(join(dir, 'runs')) ? readdirSync(join(dir, 'runs')) : []) {
      if (Date.now() - statSync(join(dir, 'runs', old)).mtimeMs > 86_400_000) {
        rmSync(join(dir, 'runs', old), { recursive: true, force: true });
      }
    }
    const runDir = join(dir, 'runs', randomBytes(6).toString('hex'));
    mkdirSync(runDir, { recursive: true });
    try {
      console.log(`${app} (in ${runDir}):`);
      cpSync(join(consumersDir, app), runDir, {
        recursive: true,
        filter: (src) => !/(node_modules|package-lock\.json|dist|\.next)$/.test(src),
      });
      // The run's own package.json: the app's, without the dependencies (they are the
      // cached parent's), so that npm installs the tarball alone, offline.
      const manifest = JSON.parse(readFileSync(join(runDir, 'package.json'), 'utf8'));
      delete manifest.dependencies;
      delete manifest.devDependencies;
      writeFileSync(join(runDir, 'package.json'), JSON.stringify(manifest, null, 2));
      run('npm', ['install', '--offline', '--no-save', '--no-package-lock', '--legacy-peer-deps', '--ignore-scripts',
        '--no-audit', '--no-fund', tarball], runDir, 'npm install <tarball>');
      const bin = (path) => join(dir, 'node_modules', path);
      await Promise.all(['bundler', 'nodenext'].map((resolution) =>
        runAsync(process.execPath, [bin('typescript/bin/tsc'), '-p', `tsconfig.${resolution}.json`], runDir,
          `tsc (${resolution})`)));
      if (app === 'vite-app') run(process.execPath, [bin('vite/bin/vite.js'), 'build'], runDir, 'vite build');
      else run(process.execPath, [bin('next/dist/bin/next'), 'build'], runDir, 'next build');
      checkOutput(app, runDir);
      console.log(`  ${app} ok: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      rmSync(runDir, { recursive: true, force: true });
    }
  }
  if (skipped) console.log(`${skipped} consumer app(s) skipped`);
}

const mode = process.argv[2];
try {
  if (mode === 'install') install();
  else if (mode === 'test') await test();
  else throw new Error('usage: node scripts/consumers.mjs install|test');
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
