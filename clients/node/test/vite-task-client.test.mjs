// The published @voidzero-dev/vite-task-client 0.2.0 (what vite 8 bundles), loaded against
// our addon through VP_RUN_NODE_CLIENT_PATH, must produce what our own package produces.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { test } from 'node:test';

import { addonCopy, asSet, cleanEnv, lastJson, packageDir, runNode, runUnderServer, tempDir } from './helpers.mjs';

const viteTaskClient = JSON.stringify(join(packageDir, 'node_modules/@voidzero-dev/vite-task-client/src/index.js'));
const runwire = JSON.stringify(join(packageDir, 'index.mjs'));

// The same calls through either module; undefined is made visible in the JSON.
const calls = (module) => `
import * as c from ${module};
const show = (v) => (v === undefined ? '<undefined>' : v === null ? '<null>' : v);
const out = [
  show(c.getEnv('NODE_ENV')),
  show(c.getEnv('NODE_ENV', undefined)),
  show(c.getEnv('UNSET_VAR', undefined)),
  show(c.getEnv('BUILD_ID', { tracked: false })),
  show(c.getEnvs({ prefix: 'VITE_' }, undefined)),
  show(c.getEnvs('APP_*')),
  show(c.getEnvs({ prefix: 'BUILD_' }, { tracked: false })),
  show(c.ignoreInput('/ws/node_modules/.vite-temp')),
  show(c.ignoreOutput('/ws/node_modules/.vite-temp')),
  show(c.ignoreInput('/ws/node_modules/.modules.yaml')),
  show(c.ignoreInput('/ws/dist')),
  show(c.disableCache()),
];
console.log(JSON.stringify(out));
`;

const serverEnv = { NODE_ENV: 'development', BUILD_ID: '7', VITE_API_URL: 'https://api.example', APP_NAME: 'demo', OTHER_VAR: 'x' };

test('vite-task-client 0.2.0 over our addon declares exactly what the runwire package declares', (t) => {
  const dir = tempDir(t);
  const addon = addonCopy(dir);
  const viaViteTask = runUnderServer(dir, calls(viteTaskClient), {
    env: cleanEnv({ VP_RUN_NODE_CLIENT_PATH: addon }),
    serverEnv,
  });
  const viaRunwire = runUnderServer(dir, calls(runwire), {
    env: cleanEnv({ RUNWIRE_NODE_ADDON: addon }),
    serverEnv,
  });
  for (const run of [viaViteTask, viaRunwire]) {
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.deepEqual(run.report.diagnostics, []);
  }
  const expected = [
    'development',
    'development',
    '<undefined>',
    '7',
    { VITE_API_URL: 'https://api.example' },
    { APP_NAME: 'demo' },
    { BUILD_ID: '7' },
    '<undefined>',
    '<undefined>',
    '<undefined>',
    '<undefined>',
    '<undefined>',
  ];
  assert.deepEqual(lastJson(viaViteTask.stdout), expected);
  assert.deepEqual(lastJson(viaRunwire.stdout), expected);
  // The same declarations; only the client name each connection gave in Hello differs (the
  // runner lets a disableCache through vite-task's object be shown, not decide).
  const sameButName = (d) => (d.kind === 'disable_cache' ? { ...d, client: '<client>' } : d);
  assert.deepEqual(
    asSet(viaViteTask.report.declarations.map(sameButName)),
    asSet(viaRunwire.report.declarations.map(sameButName)),
  );
  assert.ok(viaRunwire.report.declarations.some((d) => d.client === 'runwire (npm)'));
  assert.deepEqual(asSet(viaViteTask.report.declarations), asSet([
    { kind: 'tracked_env', name: 'NODE_ENV', value: '<hash>' },
    { kind: 'tracked_env', name: 'UNSET_VAR', value: null },
    { kind: 'tracked_env_set', selector: { prefix: 'VITE_' }, matches: [['VITE_API_URL', '<hash>']] },
    { kind: 'tracked_env_set', selector: { glob: 'APP_*' }, matches: [['APP_NAME', '<hash>']] },
    { kind: 'ignore_input', path: '/ws/node_modules/.vite-temp' },
    { kind: 'ignore_output', path: '/ws/node_modules/.vite-temp' },
    { kind: 'ignore_input', path: '/ws/node_modules/.modules.yaml' },
    { kind: 'ignore_input', path: '/ws/dist' },
    { kind: 'disable_cache', reason: '', client: 'vite-task compat (runwire Node addon)' },
  ]));
});

test('vite-task-client with the addon but no runner: undefined (never null) and {}', (t) => {
  const dir = tempDir(t);
  const run = runNode(dir, calls(viteTaskClient), { env: cleanEnv({ VP_RUN_NODE_CLIENT_PATH: addonCopy(dir) }) });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr, '');
  assert.deepEqual(lastJson(run.stdout), [
    '<undefined>', '<undefined>', '<undefined>', '<undefined>', {}, {}, {},
    '<undefined>', '<undefined>', '<undefined>', '<undefined>', '<undefined>',
  ]);
});

test('load() is idempotent, takes any arguments, never returns undefined, has every method', (t) => {
  const dir = tempDir(t);
  const script = `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const addon = require(process.env.VP_RUN_NODE_CLIENT_PATH);
const a = addon.load();
const b = addon.load({ version: 2 }, 'extra');
const methods = ['getEnv', 'getEnvs', 'ignoreInput', 'ignoreOutput', 'disableCache', 'reportInput', 'reportOutput', 'reportGlob', 'salt'];
console.log(JSON.stringify({
  defined: a !== undefined && a !== null && b !== undefined,
  methods: methods.filter((m) => typeof a[m] === 'function' && typeof b[m] === 'function'),
  values: [a.getEnv('V'), b.getEnv('V')],
}));
`;
  const run = runUnderServer(dir, script, {
    env: cleanEnv({ VP_RUN_NODE_CLIENT_PATH: addonCopy(dir) }),
    serverEnv: { V: 'same' },
  });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(lastJson(run.stdout), {
    defined: true,
    methods: ['getEnv', 'getEnvs', 'ignoreInput', 'ignoreOutput', 'disableCache', 'reportInput', 'reportOutput', 'reportGlob', 'salt'],
    values: ['same', 'same'],
  });
});
