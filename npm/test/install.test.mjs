// The npm route end to end: scripts/pack-npm.sh packs @runwire/cli and this machine's
// platform package (with the debug binary the Rust tests built), and each case installs the
// tarballs into a fresh project with no network (`--offline`, a temp npm cache) and runs
// runwire there. Run by scripts/test.sh (`node --test npm/test/`) after `cargo test`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target');
const binary = path.join(targetDir, 'debug', 'runwire');
const key = `linux-${process.arch}-gnu`;

let tmp;
let tarballs; // { cli, platform }
let npmEnv;

before(() => {
  assert.ok(
    fs.existsSync(binary),
    `${binary} is missing: build it first (cargo build -p runwire)`,
  );
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runwire-npm-'));
  const packed = run('bash', [
    path.join(repo, 'scripts/pack-npm.sh'),
    '--binary',
    binary,
    '--out',
    path.join(tmp, 'packs'),
  ]);
  const lines = packed.stdout.trim().split('\n');
  tarballs = {
    cli: lines.find((l) => l.endsWith('/runwire-cli-0.1.0.tgz')),
    platform: lines.find((l) => l.endsWith(`/runwire-cli-${key}-0.1.0.tgz`)),
  };
  assert.ok(tarballs.cli && tarballs.platform, `pack-npm.sh printed:\n${packed.stdout}`);
  // No network: every install comes from the tarballs, through an empty cache of its own.
  npmEnv = {
    ...process.env,
    npm_config_cache: path.join(tmp, 'npm-cache'),
    npm_config_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    npm_config_loglevel: 'error',
  };
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs a command to completion; throws with its output unless it exits 0 (or `status`). */
function run(cmd, args, opts = {}) {
  const { status = 0, ...rest } = opts;
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...rest });
  if (r.error) throw r.error;
  assert.equal(
    r.status,
    status,
    `${cmd} ${args.join(' ')} exited ${r.status} (${r.signal ?? 'no signal'})\n` +
      `--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
  );
  return r;
}

/** A fresh project (a one-package workspace) with the given tarballs installed. */
function project(name, installArgs, packages) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({
      name: `demo-${name}`,
      private: true,
      scripts: {
        build: 'mkdir -p dist && cat src/in.txt > dist/out.txt && echo built from src',
        fail: 'echo failing && exit 7',
        sleepy: 'echo $PPID > runner.pid && exec sleep 30',
      },
    }),
  );
  fs.mkdirSync(path.join(dir, 'src'));
  fs.writeFileSync(path.join(dir, 'src/in.txt'), 'hello\n');
  const r = run('npm', ['install', '-D', ...installArgs, ...packages], {
    cwd: dir,
    env: npmEnv,
  });
  return { dir, install: r };
}

/** `npx runwire ARGS` in `dir`. */
function npx(dir, args, status = 0) {
  return run('npx', ['runwire', ...args], { cwd: dir, env: npmEnv, status });
}

function isElf(file) {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(4);
  fs.readSync(fd, head, 0, 4, 0);
  fs.closeSync(fd);
  return head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
}

/** A miss, then a hit that replays the output and restores `dist/` after it is deleted. */
function assertMissThenHit(dir) {
  const miss = npx(dir, ['run', 'build']);
  assert.match(miss.stderr, /cache miss/);
  assert.match(miss.stdout, /built from src/);
  assert.equal(fs.readFileSync(path.join(dir, 'dist/out.txt'), 'utf8'), 'hello\n');

  fs.rmSync(path.join(dir, 'dist'), { recursive: true });
  const hit = npx(dir, ['run', 'build']);
  assert.match(hit.stderr, /cache hit/);
  assert.match(hit.stdout, /built from src/);
  assert.equal(fs.readFileSync(path.join(dir, 'dist/out.txt'), 'utf8'), 'hello\n');

  fs.writeFileSync(path.join(dir, 'src/in.txt'), 'changed\n');
  const again = npx(dir, ['run', 'build']);
  assert.match(again.stderr, /cache miss/);
  assert.equal(fs.readFileSync(path.join(dir, 'dist/out.txt'), 'utf8'), 'changed\n');
}

test('postinstall puts the native binary itself behind node_modules/.bin/runwire', () => {
  const { dir } = project('scripts', [], [tarballs.cli, tarballs.platform]);
  const bin = path.join(dir, 'node_modules/.bin/runwire');
  const resolved = fs.realpathSync(bin);
  assert.equal(resolved, path.join(dir, 'node_modules/@runwire/cli/bin/runwire'));
  assert.ok(isElf(resolved), `${resolved} is not the native binary`);
  // A hard link to the platform package's binary, not a second copy.
  const native = path.join(dir, `node_modules/@runwire/cli-${key}/bin/runwire`);
  assert.equal(fs.statSync(resolved).ino, fs.statSync(native).ino);
  assertMissThenHit(dir);
  const failed = npx(dir, ['run', 'fail'], 7);
  assert.match(failed.stdout, /failing/);
});

test('with --ignore-scripts the JS launcher runs the binary and forwards its status', async (t) => {
  const { dir } = project('ignore-scripts', ['--ignore-scripts'], [tarballs.cli, tarballs.platform]);
  const bin = path.join(dir, 'node_modules/.bin/runwire');
  assert.ok(!isElf(bin), 'the launcher was replaced although scripts were off');
  assert.match(fs.readFileSync(bin, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  assertMissThenHit(dir);

  await t.test('a failing task: its exit status', () => {
    const failed = run(bin, ['run', 'fail', '--no-cache'], { cwd: dir, status: 7 });
    assert.match(failed.stdout, /failing/);
  });

  await t.test('SIGTERM to the launcher reaches runwire, which stops its task', async () => {
    const { code, signal } = await interrupted(dir, bin, (launcher) => launcher.kill('SIGTERM'));
    // runwire's own status for an interrupted run (README, "Interrupting a run"): had the
    // launcher died of the signal instead, it would report the signal, not 143.
    assert.deepEqual({ code, signal }, { code: 143, signal: null });
  });

  await t.test('SIGINT too', async () => {
    const { code, signal } = await interrupted(dir, bin, (launcher) => launcher.kill('SIGINT'));
    assert.deepEqual({ code, signal }, { code: 130, signal: null });
  });

  await t.test('runwire killed by a signal: the launcher dies of the same signal', async () => {
    const { code, signal } = await interrupted(dir, bin, (_, runnerPid) =>
      process.kill(runnerPid, 'SIGKILL'),
    );
    assert.deepEqual({ code, signal }, { code: null, signal: 'SIGKILL' });
  });
});

test('no platform package: the install works and runwire names the missing package', () => {
  // Only @runwire/cli: its optional dependencies cannot be fetched offline, as on a
  // platform with no prebuilt binary. Install scripts on: the postinstall must not fail.
  const { dir } = project('no-platform', [], [tarballs.cli]);
  const bin = path.join(dir, 'node_modules/.bin/runwire');
  assert.ok(!isElf(bin));
  const r = run(bin, ['run', 'build'], { cwd: dir, status: 1 });
  assert.match(r.stderr, new RegExp(`@runwire/cli-${key}`));
  assert.match(r.stderr, new RegExp(`\\(${key}\\)`));
});

/**
 * Starts `bin run sleepy` (a task that records its runner's pid, then sleeps), waits until
 * the task runs, calls `act(launcher, runnerPid)` and resolves with how the launcher ended.
 */
async function interrupted(dir, bin, act) {
  const pidFile = path.join(dir, 'runner.pid');
  fs.rmSync(pidFile, { force: true });
  const launcher = spawn(bin, ['run', 'sleepy', '--no-cache'], { cwd: dir, stdio: 'ignore' });
  const ended = new Promise((resolve) =>
    launcher.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + 20_000;
  let runnerPid;
  while (!runnerPid) {
    assert.ok(Date.now() < deadline, 'the task did not start within 20 s');
    await new Promise((r) => setTimeout(r, 50));
    const text = fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8').trim() : '';
    if (text) runnerPid = Number(text);
  }
  const started = Date.now();
  act(launcher, runnerPid);
  const result = await ended;
  // The task (sleep 30) was stopped, not waited for.
  assert.ok(Date.now() - started < 10_000, 'the launcher outlived the interrupt by 10 s');
  return result;
}
