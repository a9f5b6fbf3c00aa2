// Shared by the test files: where the Rust binaries are, a `.node` copy of the addon, and
// running a script under a real protocol server (runwire-test-server).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = resolve(packageDir, '../..');

/** `target/debug` of the workspace (CARGO_TARGET_DIR wins), where `cargo build` put things. */
export const binDir = join(process.env.CARGO_TARGET_DIR || join(repoRoot, 'target'), 'debug');

export function binary(name) {
  const path = join(binDir, name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run scripts/install.sh (cargo build --workspace) first`);
  }
  return path;
}

export function tempDir(t, prefix = 'runwire-node-test-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The built addon copied as `<dir>/runwire.node`: `require` loads native code only for `.node`. */
export function addonCopy(dir) {
  const path = join(dir, 'runwire.node');
  copyFileSync(binary('librunwire_node.so'), path);
  return path;
}

/** The environment of this process minus anything runner-related. */
export function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('RUNWIRE_') || name === 'VP_RUN_NODE_CLIENT_PATH') delete env[name];
  }
  return { ...env, ...extra };
}

/** Runs `node <script>` (an .mjs or .cjs source written to `dir`) with `env`, no runner. */
export function runNode(dir, source, { env = cleanEnv(), ext = 'mjs' } = {}) {
  const script = join(dir, `script-${Math.random().toString(36).slice(2)}.${ext}`);
  writeFileSync(script, source);
  const result = spawnSync(process.execPath, [script], { cwd: packageDir, env, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Runs `node <script>` under runwire-test-server with `serverEnv` as the runner's env and
 * returns the script's output plus the server's report (declarations, diagnostics).
 */
export function runUnderServer(dir, source, { serverEnv = {}, env = cleanEnv(), ext = 'mjs', untracked = [] } = {}) {
  const script = join(dir, `script-${Math.random().toString(36).slice(2)}.${ext}`);
  writeFileSync(script, source);
  const reportPath = join(dir, `report-${Math.random().toString(36).slice(2)}.json`);
  const args = [];
  for (const [name, value] of Object.entries(serverEnv)) args.push('--env', `${name}=${value}`);
  for (const pattern of untracked) args.push('--untracked', pattern);
  args.push('--report', reportPath, '--', process.execPath, script);
  const result = spawnSync(binary('runwire-test-server'), args, { cwd: packageDir, env, encoding: 'utf8' });
  const report = existsSync(reportPath) ? JSON.parse(readFileSync(reportPath, 'utf8')) : null;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, report };
}

/** The JSON a test script printed as its last stdout line. */
export function lastJson(stdout) {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

/** Declarations with env hashes replaced by a marker, for structural comparison. */
export function shape(declarations) {
  return JSON.parse(
    JSON.stringify(declarations, (_key, value) =>
      typeof value === 'string' && /^blake3:[0-9a-f]{64}$/.test(value) ? '<hash>' : value,
    ),
  );
}

/** The server reports declarations as a sorted set; compare as sets of shapes. */
export function asSet(declarations) {
  return [...new Set(shape(declarations).map((d) => JSON.stringify(d)))].sort();
}
