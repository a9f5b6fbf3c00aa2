// Regenerates addon.d.ts (the addon's typings) with napi-rs's own tooling, or with --check
// fails when the committed file differs from what the current Rust source generates.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const targetDir = process.env.CARGO_TARGET_DIR || resolve(here, '../../target');
const out = mkdtempSync(join(tmpdir(), 'runwire-dts-'));
try {
  execFileSync(
    process.execPath,
    [
      join(here, 'node_modules/@napi-rs/cli/dist/cli.js'),
      'build',
      '--manifest-path', join(here, 'Cargo.toml'),
      '--package-json-path', join(here, 'package.json'),
      '--target-dir', targetDir,
      '--output-dir', out,
      '--dts', 'addon.d.ts',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const fresh = readFileSync(join(out, 'addon.d.ts'), 'utf8');
  const committedPath = join(here, 'addon.d.ts');
  if (check) {
    const committed = readFileSync(committedPath, 'utf8');
    if (committed !== fresh) {
      console.error('clients/node/addon.d.ts is stale: run `npm run dts` in clients/node and commit it');
      process.exit(1);
    }
    console.log('clients/node/addon.d.ts is up to date');
  } else {
    writeFileSync(committedPath, fresh);
    console.log('wrote clients/node/addon.d.ts');
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
