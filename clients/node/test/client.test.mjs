// The npm package `runwire` and its addon, against a real protocol server.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';

import { addonCopy, asSet, cleanEnv, lastJson, packageDir, runNode, runUnderServer, shape, tempDir } from './helpers.mjs';

const require = createRequire(import.meta.url);
const esm = JSON.stringify(join(packageDir, 'index.mjs'));
const cjs = JSON.stringify(join(packageDir, 'index.cjs'));

// Every call of the API once; prints what the queries answered.
const everyCall = `
import * as rw from ${esm};
const out = {
  node: rw.getEnv('NODE_ENV'),
  unset: rw.getEnv('NOT_SET_ANYWHERE'),
  untracked: rw.getEnv('BUILD_ID', { tracked: false }),
  explicitUndefined: rw.getEnv('NODE_ENV', undefined),
  prefix: rw.getEnvs({ prefix: 'VITE_' }),
  glob: rw.getEnvs('APP_?', { tracked: true }),
  globUntracked: rw.getEnvs('BUILD_*', { tracked: false }),
};
rw.ignoreInput('/work/x/node_modules/.vite');
rw.ignoreOutput('relative/out');
rw.disableCache('dev server');
rw.disableCache();
rw.reportInput('/abs/in.txt');
rw.reportOutput('/abs/out.txt');
rw.reportGlob('src/**/*.ts');
rw.salt('compiler', '1.2.3');
out.active = rw.isActive();
console.log(JSON.stringify(out));
`;

test('outside a runner every call is a silent no-op', (t) => {
  const dir = tempDir(t);
  for (const env of [cleanEnv(), cleanEnv({ RUNWIRE_NODE_ADDON: addonCopy(dir) })]) {
    const run = runNode(dir, everyCall, { env });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.deepEqual(lastJson(run.stdout), {
      prefix: {},
      glob: {},
      globUntracked: {},
      active: false,
    });
  }
  // The CommonJS entry point too, and the values are undefined rather than missing.
  const run = runNode(dir, `const rw = require(${cjs}); console.log(JSON.stringify([rw.getEnv('X') === undefined, rw.getEnvs('X*')]));`, { ext: 'cjs' });
  assert.equal(run.stderr, '');
  assert.deepEqual(lastJson(run.stdout), [true, {}]);
});

test('every call reaches a real server and is recorded', (t) => {
  const dir = tempDir(t);
  const run = runUnderServer(dir, everyCall, {
    env: cleanEnv({ RUNWIRE_NODE_ADDON: addonCopy(dir) }),
    serverEnv: { NODE_ENV: 'production', BUILD_ID: '42', VITE_A: 'a', VITE_B: 'b', APP_1: 'one', APP_22: 'no', OTHER: 'x' },
  });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr, '');
  assert.deepEqual(lastJson(run.stdout), {
    node: 'production',
    untracked: '42',
    explicitUndefined: 'production',
    prefix: { VITE_A: 'a', VITE_B: 'b' },
    glob: { APP_1: 'one' },
    globUntracked: { BUILD_ID: '42' },
    active: true,
  });
  assert.deepEqual(run.report.diagnostics, []);
  assert.deepEqual(asSet(run.report.declarations), asSet([
    { kind: 'tracked_env', name: 'NODE_ENV', value: '<hash>' },
    { kind: 'tracked_env', name: 'NOT_SET_ANYWHERE', value: null },
    { kind: 'tracked_env_set', selector: { prefix: 'VITE_' }, matches: [['VITE_A', '<hash>'], ['VITE_B', '<hash>']] },
    { kind: 'tracked_env_set', selector: { glob: 'APP_?' }, matches: [['APP_1', '<hash>']] },
    { kind: 'ignore_input', path: '/work/x/node_modules/.vite' },
    { kind: 'ignore_output', path: join(packageDir, 'relative/out') },
    { kind: 'disable_cache', reason: 'dev server', client: 'runwire (npm)' },
    { kind: 'disable_cache', reason: '', client: 'runwire (npm)' },
    { kind: 'report_input', path: '/abs/in.txt' },
    { kind: 'report_output', path: '/abs/out.txt' },
    { kind: 'report_glob', base: packageDir, pattern: 'src/**/*.ts' },
    { kind: 'salt', key: 'compiler', value: '1.2.3' },
  ]));
  // Values are never in the report in plain text.
  assert.ok(!JSON.stringify(run.report).includes('production'));
});

test('caller errors throw with the proto error code; the run goes on', (t) => {
  const dir = tempDir(t);
  const script = `
import * as rw from ${esm};
const codes = [];
const calls = [
  () => rw.getEnv(''),
  () => rw.getEnv('A=B'),
  () => rw.getEnv(42),
  () => rw.getEnv('A', { tracked: 'yes' }),
  () => rw.getEnv('A', 7),
  () => rw.getEnvs(''),
  () => rw.getEnvs('A['),
  () => rw.getEnvs({ prefix: '' }),
  () => rw.getEnvs({}),
  () => rw.getEnvs(null),
  () => rw.ignoreInput(''),
  () => rw.ignoreOutput('a\\0b'),
  () => rw.reportInput(undefined),
  () => rw.reportGlob(''),
  () => rw.salt('', 'v'),
  () => rw.disableCache(5),
];
for (const call of calls) {
  try { call(); codes.push('no error'); } catch (e) { codes.push(e.code + (e instanceof Error && e.message ? '' : ' (no message)')); }
}
codes.push(rw.getEnv('OK'));
console.log(JSON.stringify(codes));
`;
  const run = runUnderServer(dir, script, {
    env: cleanEnv({ RUNWIRE_NODE_ADDON: addonCopy(dir) }),
    serverEnv: { OK: 'fine' },
  });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr, '');
  assert.deepEqual(lastJson(run.stdout), [
    'ERROR_CODE_EMPTY_NAME',
    'ERROR_CODE_INVALID_NAME',
    'ERROR_CODE_INVALID_ARGUMENT',
    'ERROR_CODE_INVALID_ARGUMENT',
    'ERROR_CODE_INVALID_ARGUMENT',
    'ERROR_CODE_EMPTY_PATTERN',
    'ERROR_CODE_INVALID_PATTERN',
    'ERROR_CODE_EMPTY_PATTERN',
    'ERROR_CODE_INVALID_ARGUMENT',
    'ERROR_CODE_INVALID_ARGUMENT',
    'ERROR_CODE_EMPTY_PATH',
    'ERROR_CODE_INVALID_PATH',
    'ERROR_CODE_INVALID_ARGUMENT',
    'ERROR_CODE_EMPTY_PATTERN',
    'ERROR_CODE_EMPTY_KEY',
    'ERROR_CODE_INVALID_ARGUMENT',
    'fine',
  ]);
  // Caller errors are not faults: nothing for the runner to hold against the run.
  assert.deepEqual(run.report.diagnostics, []);
});

test('non-ASCII names and values round-trip', (t) => {
  const dir = tempDir(t);
  const script = `
import { getEnv, getEnvs, ignoreInput } from ${esm};
console.log(JSON.stringify([getEnv('ÄPFEL_日本'), getEnvs({ prefix: 'ÄPFEL' }), getEnvs('*_ÉTÉ')]));
ignoreInput('/tmp/ördner/📦');
`;
  const run = runUnderServer(dir, script, {
    env: cleanEnv({ RUNWIRE_NODE_ADDON: addonCopy(dir) }),
    serverEnv: { 'ÄPFEL_日本': 'grüße 👋', 'ÄPFEL_2': 'ß', 'X_ÉTÉ': 'été' },
  });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(lastJson(run.stdout), [
    'grüße 👋',
    { 'ÄPFEL_2': 'ß', 'ÄPFEL_日本': 'grüße 👋' },
    { 'X_ÉTÉ': 'été' },
  ]);
  assert.deepEqual(asSet(run.report.declarations), asSet([
    { kind: 'tracked_env', name: 'ÄPFEL_日本', value: '<hash>' },
    { kind: 'tracked_env_set', selector: { prefix: 'ÄPFEL' }, matches: [['ÄPFEL_2', '<hash>'], ['ÄPFEL_日本', '<hash>']] },
    { kind: 'tracked_env_set', selector: { glob: '*_ÉTÉ' }, matches: [['X_ÉTÉ', '<hash>']] },
    { kind: 'ignore_input', path: '/tmp/ördner/📦' },
  ]));
});

test('calls from worker threads are all recorded', (t) => {
  const dir = tempDir(t);
  const worker = join(dir, 'worker.mjs');
  writeFileSync(worker, `
import { workerData, parentPort } from 'node:worker_threads';
import * as rw from ${esm};
const value = rw.getEnv('W' + workerData);
rw.ignoreInput('/w/' + workerData);
parentPort.postMessage(value);
`);
  const script = `
import { Worker } from 'node:worker_threads';
import * as rw from ${esm};
rw.ignoreInput('/w/main');
const answers = await Promise.all([1, 2, 3, 4].map((i) => new Promise((resolve, reject) => {
  const w = new Worker(${JSON.stringify(worker)}, { workerData: i });
  w.once('message', resolve);
  w.once('error', reject);
})));
console.log(JSON.stringify(answers));
`;
  const run = runUnderServer(dir, script, {
    env: cleanEnv({ RUNWIRE_NODE_ADDON: addonCopy(dir) }),
    serverEnv: { W1: 'one', W2: 'two', W3: 'three' },
  });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr, '');
  // W4 is unset: undefined, which JSON shows as null.
  assert.deepEqual(lastJson(run.stdout), ['one', 'two', 'three', null]);
  assert.deepEqual(asSet(run.report.declarations), asSet([
    { kind: 'ignore_input', path: '/w/main' },
    ...[1, 2, 3, 4].map((i) => ({ kind: 'ignore_input', path: `/w/${i}` })),
    { kind: 'tracked_env', name: 'W1', value: '<hash>' },
    { kind: 'tracked_env', name: 'W2', value: '<hash>' },
    { kind: 'tracked_env', name: 'W3', value: '<hash>' },
    { kind: 'tracked_env', name: 'W4', value: null },
  ]));
  assert.deepEqual(run.report.diagnostics, []);
});

test('the package and a require() of the same addon (vite\'s bundled client) share one process', (t) => {
  // A vite plugin using `runwire` runs in the process where vite loaded the addon through
  // VP_RUN_NODE_CLIENT_PATH: the package loads it with process.dlopen, vite with require, so
  // the library is initialized twice in one environment. Both must work, in either order.
  const dir = tempDir(t);
  const addon = addonCopy(dir);
  for (const packageFirst of [true, false]) {
    const script = `
import { createRequire } from 'node:module';
import * as rw from ${esm};
const require = createRequire(import.meta.url);
const out = [];
if (${packageFirst}) out.push(rw.getEnv('A'));
const vite = require(process.env.VP_RUN_NODE_CLIENT_PATH).load();
out.push(vite.getEnv('B'), rw.getEnv('A'), vite.getEnvs({ prefix: 'B' }));
rw.ignoreInput('/from/package');
vite.ignoreInput('/from/vite');
console.log(JSON.stringify(out));
`;
    const run = runUnderServer(dir, script, {
      env: cleanEnv({ RUNWIRE_NODE_ADDON: addon, VP_RUN_NODE_CLIENT_PATH: addon }),
      serverEnv: { A: 'a', B: 'b' },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr, '');
    const answers = packageFirst ? ['a', 'b', 'a', { B: 'b' }] : ['b', 'a', { B: 'b' }];
    assert.deepEqual(lastJson(run.stdout), answers);
    assert.deepEqual(asSet(run.report.declarations), asSet([
      { kind: 'tracked_env', name: 'A', value: '<hash>' },
      { kind: 'tracked_env', name: 'B', value: '<hash>' },
      { kind: 'tracked_env_set', selector: { prefix: 'B' }, matches: [['B', '<hash>']] },
      { kind: 'ignore_input', path: '/from/package' },
      { kind: 'ignore_input', path: '/from/vite' },
    ]));
    assert.deepEqual(run.report.diagnostics, []);
  }
});

test('a wrong addon path gives one warning and no-op calls, never a crash', (t) => {
  const dir = tempDir(t);
  const notAnAddon = join(dir, 'garbage.node');
  writeFileSync(notAnAddon, 'this is not a shared object');
  const jsWithoutLoad = join(dir, 'noload.cjs');
  writeFileSync(jsWithoutLoad, 'module.exports = { hello: 1 };');
  for (const addon of [join(dir, 'missing', 'runwire.node'), notAnAddon, jsWithoutLoad, 'relative/runwire.node']) {
    const run = runUnderServer(dir, everyCall, {
      env: cleanEnv({ RUNWIRE_NODE_ADDON: addon }),
      serverEnv: { NODE_ENV: 'production', VITE_A: 'a' },
    });
    assert.equal(run.status, 0, `${addon}: ${run.stderr}`);
    const warnings = run.stderr.split('\n').filter((line) => line.startsWith('runwire:'));
    assert.equal(warnings.length, 1, `${addon}: ${run.stderr}`);
    assert.ok(warnings[0].includes(addon), warnings[0]);
    assert.deepEqual(lastJson(run.stdout), { prefix: {}, glob: {}, globUntracked: {}, active: false });
    assert.deepEqual(run.report.declarations, []);
  }
});

test('a runner-side fault (socket gone) is one warning and no-op calls', (t) => {
  const dir = tempDir(t);
  const run = runNode(dir, everyCall, {
    env: cleanEnv({ RUNWIRE_NODE_ADDON: addonCopy(dir), RUNWIRE_SOCKET: join(dir, 'gone.sock') }),
  });
  assert.equal(run.status, 0, run.stderr);
  const warnings = run.stderr.split('\n').filter((line) => line.startsWith('runwire:'));
  assert.equal(warnings.length, 1, run.stderr);
  assert.match(warnings[0], /lost contact with the task runner/);
  assert.deepEqual(lastJson(run.stdout), { prefix: {}, glob: {}, globUntracked: {}, active: true });
});

test('installed by name: ESM named imports and require() share one module', (t) => {
  // As npm lays it out (the "files" of package.json under node_modules/runwire). There is
  // no exports map on purpose (README, "Start-up cost"): Node's ESM import must still find
  // every named export through the CommonJS entry, and both ways give the same functions.
  const dir = tempDir(t);
  const installed = join(dir, 'node_modules/runwire');
  mkdirSync(installed, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  assert.equal(manifest.exports, undefined, 'an exports map costs ~1.5 ms of every start-up on Node 20 (bench/node.sh)');
  for (const f of [...manifest.files, 'package.json']) copyFileSync(join(packageDir, f), join(installed, f));
  const names = Object.keys(require(join(packageDir, 'index.cjs'))).sort();
  const script = join(dir, 'tool.mjs');
  writeFileSync(script, `
import { createRequire } from 'node:module';
import * as ns from 'runwire';
import runwire, { getEnv } from 'runwire';
const cjs = createRequire(import.meta.url)('runwire');
const named = Object.keys(ns).filter((k) => k !== 'default').sort();
console.log(JSON.stringify({ named, same: getEnv === cjs.getEnv && runwire === cjs, value: getEnv('X') ?? null }));
`);
  const run = spawnSync(process.execPath, [script], { cwd: dir, env: cleanEnv(), encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(lastJson(run.stdout), { named: names, same: true, value: null });
  assert.ok(names.includes('getEnv') && names.includes('disableCache'), names.join());
});
