// Vanilla vite 8.3.8 from npm (no plugin, no patch) through the real `runwire` CLI. vite
// bundles vite-task's client; the runner points VP_RUN_NODE_CLIENT_PATH at our addon, so vite
// itself declares NODE_ENV, its envPrefix vars and its private dirs. runwire.json declares no
// env for the task.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

import { binary, cleanEnv, packageDir, tempDir } from './helpers.mjs';

const appSource = join(packageDir, 'test/vite-app');

/** A private copy of the fixture app (node_modules hard-linked: same bytes, no download). */
function appCopy(t) {
  if (!existsSync(join(appSource, 'node_modules/vite/package.json'))) {
    throw new Error(`${appSource}/node_modules is missing: run scripts/install.sh first`);
  }
  const dir = join(tempDir(t, 'runwire-vite-'), 'app');
  mkdirSync(dir);
  for (const file of ['package.json', 'package-lock.json', 'index.html', 'main.js', 'vite.config.js', 'runwire.json']) {
    writeFileSync(join(dir, file), readFileSync(join(appSource, file)));
  }
  execFileSync('cp', ['-al', join(appSource, 'node_modules'), join(dir, 'node_modules')]);
  // A copy made while the source app had .vite* dirs must not start with them.
  for (const name of ['.vite', '.vite-temp', '.cache']) rmSync(join(dir, 'node_modules', name), { recursive: true, force: true });
  return dir;
}

/** `runwire run build` in `dir` with `env` on top of a clean environment. */
function build(dir, env = {}) {
  const result = spawnSync(binary('runwire'), ['run', 'build'], {
    cwd: dir,
    env: cleanEnv({ NODE_ENV: undefined, ...env }),
    encoding: 'utf8',
  });
  // (spawnSync drops variables whose value is undefined: NODE_ENV is unset unless given.)
  assert.equal(result.status, 0, `runwire run build failed:\n${result.stdout}\n${result.stderr}`);
  const { stderr } = result;
  return {
    stderr,
    hit: /cache hit/.test(stderr),
    miss: /cache miss/.test(stderr),
    cached: /^ {2}cached$/m.test(stderr),
    reasons: stderr.split('\n').filter((line) => line.startsWith('  - ')).map((line) => line.slice(4)),
  };
}

function assertMiss(run, what) {
  assert.ok(run.miss && !run.hit, `${what}: expected a miss\n${run.stderr}`);
  assert.ok(run.cached, `${what}: expected the run to be cached\n${run.stderr}`);
}

function assertHit(run, what) {
  assert.ok(run.hit && !run.miss, `${what}: expected a hit\n${run.stderr}`);
}

/** Every file under `dir`, relative path -> bytes. */
function snapshot(dir) {
  const files = {};
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else files[relative(dir, path)] = readFileSync(path).toString('base64');
    }
  };
  walk(dir);
  return files;
}

/** The built JS bundle's text. */
function bundle(dir) {
  const assets = join(dir, 'dist/assets');
  return readdirSync(assets).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(assets, f), 'utf8')).join('\n');
}

// process.env of the test runner must not leak NODE_ENV into the runs.
const base = { VITE_API_URL: 'https://api.one.example', OTHER_VAR: 'a' };

test('(a) the second build is a hit and dist/ is restored byte-identical', (t) => {
  const app = appCopy(t);
  assertMiss(build(app, base), 'first build');
  const built = snapshot(join(app, 'dist'));
  assert.ok(bundle(app).includes('https://api.one.example'), 'VITE_API_URL reaches the bundle through getEnvs');
  assert.ok(Object.keys(built).includes('index.html'));

  assertHit(build(app, base), 'second build');
  rmSync(join(app, 'dist'), { recursive: true });
  assertHit(build(app, base), 'after rm -rf dist');
  assert.deepEqual(snapshot(join(app, 'dist')), built);
});

test('(b) NODE_ENV=development vs unset is a different variant', (t) => {
  const app = appCopy(t);
  assertMiss(build(app, base), 'unset');
  // vite asked the runner for NODE_ENV (unset), so it made a production build.
  assert.match(bundle(app), /DEV:!1/);
  const dev = build(app, { ...base, NODE_ENV: 'development' });
  assertMiss(dev, 'NODE_ENV=development');
  // NODE_ENV is not in the strict env: the value came through getEnv('NODE_ENV').
  assert.match(bundle(app), /DEV:!0/);
  assert.deepEqual(dev.reasons.filter((r) => r.includes('NODE_ENV')).length, 1, dev.stderr);
  assertHit(build(app, base), 'unset again: the first variant');
  assertHit(build(app, { ...base, NODE_ENV: 'development' }), 'development again: the second variant');
});

test('(c) changing VITE_API_URL invalidates, changing OTHER_VAR does not', (t) => {
  const app = appCopy(t);
  assertMiss(build(app, base), 'first');
  assertHit(build(app, { ...base, OTHER_VAR: 'b' }), 'OTHER_VAR changed');
  const changed = build(app, { ...base, VITE_API_URL: 'https://api.two.example' });
  assertMiss(changed, 'VITE_API_URL changed');
  assert.ok(changed.reasons.some((r) => r.includes('VITE_')), changed.stderr);
  assert.ok(bundle(app).includes('https://api.two.example'));
  assert.ok(!bundle(app).includes('https://api.one.example'));
});

test('(d) envPrefix MYAPP_ in vite.config.js: MYAPP_X tracked, VITE_X not, runwire.json untouched', (t) => {
  const app = appCopy(t);
  const runwireJson = readFileSync(join(app, 'runwire.json'), 'utf8');
  const config = join(app, 'vite.config.js');
  writeFileSync(config, readFileSync(config, 'utf8').replace("envPrefix: 'VITE_'", "envPrefix: 'MYAPP_'"));
  const env = { MYAPP_X: 'm1', VITE_X: 'v1' };
  assertMiss(build(app, env), 'first');
  assert.ok(bundle(app).includes('m1'), 'MYAPP_X reaches the bundle');
  assert.ok(!bundle(app).includes('v1'), 'VITE_X no longer does');
  assertHit(build(app, { ...env, VITE_X: 'v2' }), 'VITE_X changed: untracked now');
  const changed = build(app, { ...env, MYAPP_X: 'm2' });
  assertMiss(changed, 'MYAPP_X changed');
  assert.ok(changed.reasons.some((r) => r.includes('MYAPP_')), changed.stderr);
  assert.equal(readFileSync(join(app, 'runwire.json'), 'utf8'), runwireJson);
});

test('(e) cacheable; node_modules/.vite* is neither an input nor archived; compat off shown side by side', (t) => {
  const app = appCopy(t);
  assertMiss(build(app, base), 'first');
  const viteTemp = join(app, 'node_modules/.vite-temp');
  assert.ok(existsSync(viteTemp), 'vite made its config temp dir');

  // Not an input: junk in vite's private dirs does not invalidate.
  writeFileSync(join(viteTemp, 'junk.mjs'), 'export default 1;\n');
  mkdirSync(join(app, 'node_modules/.vite/deps'), { recursive: true });
  writeFileSync(join(app, 'node_modules/.vite/deps/_metadata.json'), '{}\n');
  assertHit(build(app, base), 'junk in node_modules/.vite*');

  // Not archived: a restore brings dist/ back but not vite's temp dir.
  rmSync(viteTemp, { recursive: true });
  rmSync(join(app, 'node_modules/.vite'), { recursive: true });
  rmSync(join(app, 'dist'), { recursive: true });
  assertHit(build(app, base), 'restore');
  assert.ok(existsSync(join(app, 'dist/index.html')));
  assert.ok(!existsSync(viteTemp), 'node_modules/.vite-temp was not restored');
  assert.ok(!existsSync(join(app, 'node_modules/.vite')), 'node_modules/.vite was not restored');

  // Compatibility off (own cache, so the two modes never share entries): VITE_API_URL is not
  // in the strict env and nobody asks the runner for it, so it misses the bundle, and
  // changing it cannot matter.
  const off = { ...base, RUNWIRE_VITE_COMPAT: '0', RUNWIRE_CACHE_DIR: join(app, '..', 'cache-compat-off') };
  const first = build(app, off);
  assert.ok(first.miss, first.stderr);
  assert.ok(!bundle(app).includes('https://api.one.example'), 'without the protocol VITE_API_URL does not reach the bundle');
  const changed = build(app, { ...off, VITE_API_URL: 'https://api.two.example' });
  assert.ok(!bundle(app).includes('https://api.two.example'));
  if (first.cached) {
    assertHit(changed, 'compat off: VITE_API_URL changed');
  } else {
    assert.fail(`compat off: the first run was not cacheable:\n${first.stderr}`);
  }
  // Side by side: with compat on, the same change is a miss (the entry above is a hit).
  assertMiss(build(app, { ...base, VITE_API_URL: 'https://api.two.example' }), 'compat on: VITE_API_URL changed');
});
