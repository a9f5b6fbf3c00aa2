// What the `runwire` CLI hands a task: the materialized addon in both variables.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { test } from 'node:test';

import { binary, cleanEnv, tempDir } from './helpers.mjs';

function dumpTask(t) {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'dump', scripts: { dump: 'node dump.cjs' } }));
  writeFileSync(join(dir, 'dump.cjs'), `
const fs = require('node:fs');
const addon = process.env.RUNWIRE_NODE_ADDON;
const out = { addon, vite: process.env.VP_RUN_NODE_CLIENT_PATH };
if (addon) {
  out.dirMode = (fs.statSync(require('node:path').dirname(addon)).mode & 0o777).toString(8);
  out.active = require(addon).load().active;
}
console.log(JSON.stringify(out));
`);
  return dir;
}

function run(dir, env) {
  const result = spawnSync(binary('runwire'), ['run', 'dump', '--log-prefix', 'none'], { cwd: dir, env: cleanEnv(env), encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout.trim().split('\n').pop());
}

test('the runner materializes the addon and names it in RUNWIRE_NODE_ADDON and VP_RUN_NODE_CLIENT_PATH', (t) => {
  const dir = dumpTask(t);
  const seen = run(dir, { XDG_RUNTIME_DIR: tempDir(t, 'runwire-xdg-') });
  assert.ok(isAbsolute(seen.addon), seen.addon);
  assert.match(basename(seen.addon), /^runwire-node-[0-9a-f]{32}\.node$/);
  assert.equal(seen.vite, seen.addon);
  assert.equal(seen.dirMode, '700');
  assert.equal(seen.active, true, 'the task can load it and it sees the runner');
  // The addon embedded in the runwire binary (crates/runwire/build.rs), under a name
  // derived from its bytes.
  const materialized = readFileSync(seen.addon);
  assert.ok(readFileSync(binary('runwire')).includes(materialized), 'the embedded addon');
  assert.equal(statSync(dirname(seen.addon)).isDirectory(), true);
});

test('RUNWIRE_VITE_COMPAT=0 leaves VP_RUN_NODE_CLIENT_PATH out, RUNWIRE_NODE_ADDON stays', (t) => {
  const dir = dumpTask(t);
  const seen = run(dir, { XDG_RUNTIME_DIR: tempDir(t, 'runwire-xdg-'), RUNWIRE_VITE_COMPAT: '0' });
  assert.match(basename(seen.addon), /^runwire-node-[0-9a-f]{32}\.node$/);
  assert.equal(seen.vite, undefined);
});
