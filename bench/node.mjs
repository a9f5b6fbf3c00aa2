// Benchmark of the Node client (issue 8), one command: bench/node.sh.
//  1. start-up: `node -e 0` vs `node -e "require('runwire').getEnv('X')"`, both under a real
//     runner (runwire-test-server: RUNWIRE_SOCKET + RUNWIRE_NODE_ADDON set), alternated in
//     batches so machine noise hits both. Goal: the client adds <= 3 ms.
//  2. the vite fixture app: `runwire run build` uncached (fresh cache each time) vs a cache
//     hit, plus plain `vite build` without a runner for reference. Goal: hit >= 10x faster.
// Prints medians, the difference and the ratios. Not a test: nothing here fails on a number.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const clientDir = join(repo, 'clients/node');
const profile = process.env.PROFILE || 'release';
const bin = join(process.env.CARGO_TARGET_DIR || join(repo, 'target'), profile);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (x) => `${x.toFixed(1)} ms`;
const timed = (fn) => {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
};
const cleanEnv = (extra = {}) => {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('RUNWIRE_') || k === 'VP_RUN_NODE_CLIENT_PATH' || k === 'NODE_ENV') delete env[k];
  return { ...env, ...extra };
};

// Inner mode: runs under runwire-test-server, spawns the node processes, prints JSON.
if (process.argv[2] === '--startup-inner') {
  const rounds = Number(process.argv[3]);
  const batch = 5;
  const base = [];
  const client = [];
  const baseCpu = [];
  const clientCpu = [];
  // Each child also prints its own CPU time (user + system, all threads) since it started:
  // on a busy machine that is far less noisy than wall time. The print comes after the
  // measured code and costs both sides the same.
  const cpu = ";const u=process.cpuUsage();process.stdout.write(String(u.user+u.system))";
  const run = (code, cpuTimes) => {
    const r = spawnSync(process.execPath, ['-e', code + cpu], { cwd: clientDir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`node -e ${code} failed: ${r.stderr}`);
    cpuTimes.push(Number(r.stdout) / 1000);
  };
  run("require('runwire').getEnv('X')", []); // warm the page cache
  for (let i = 0; i < rounds; i += batch) {
    for (let j = 0; j < batch; j++) base.push(timed(() => run('0', baseCpu)));
    for (let j = 0; j < batch; j++) client.push(timed(() => run("require('runwire').getEnv('X')", clientCpu)));
  }
  console.log(JSON.stringify({ base, client, baseCpu, clientCpu }));
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), 'runwire-bench-node-'));
try {
  // 1. Start-up.
  const addon = join(work, 'runwire.node');
  copyFileSync(join(bin, 'librunwire_node.so'), addon);
  const rounds = Number(process.env.STARTUP_ROUNDS || 40);
  const out = execFileSync(
    join(bin, 'runwire-test-server'),
    ['--env', 'X=1', '--report', join(work, 'report.json'), '--', process.execPath, fileURLToPath(import.meta.url), '--startup-inner', String(rounds)],
    { env: cleanEnv({ RUNWIRE_NODE_ADDON: addon }), encoding: 'utf8' },
  );
  const { base, client, baseCpu, clientCpu } = JSON.parse(out.trim().split('\n').pop());
  const report = JSON.parse(readFileSync(join(work, 'report.json'), 'utf8'));
  if (!report.declarations.some((d) => d.kind === 'tracked_env' && d.name === 'X')) {
    throw new Error('the contender did not reach the server: benchmark invalid');
  }
  const [mb, mc, cb, cc] = [median(base), median(client), median(baseCpu), median(clientCpu)];
  console.log(`node start-up under a runner (${profile} addon, ${rounds} runs each, medians; wall | CPU)`);
  console.log(`  baseline   node -e 0                                   ${ms(mb)} | ${ms(cb)}`);
  console.log(`  contender  node -e "require('runwire').getEnv('X')"     ${ms(mc)} | ${ms(cc)}`);
  console.log(`  added by the client: wall ${ms(mc - mb)} (ratio ${(mc / mb).toFixed(3)}x), CPU ${ms(cc - cb)} (ratio ${(cc / cb).toFixed(3)}x); goal <= 3 ms`);

  // 2. vite build: uncached vs cache hit.
  const appSource = join(clientDir, 'test/vite-app');
  const app = join(work, 'app');
  mkdirSync(app);
  for (const f of ['package.json', 'package-lock.json', 'index.html', 'main.js', 'vite.config.js', 'runwire.json']) {
    writeFileSync(join(app, f), readFileSync(join(appSource, f)));
  }
  execFileSync('cp', ['-al', join(appSource, 'node_modules'), join(app, 'node_modules')]);
  for (const n of ['.vite', '.vite-temp', '.cache']) rmSync(join(app, 'node_modules', n), { recursive: true, force: true });
  const env = cleanEnv({ VITE_API_URL: 'https://api.example' });
  const runwire = (extra, expect) => {
    const r = spawnSync(join(bin, 'runwire'), ['run', 'build'], { cwd: app, env: { ...env, ...extra }, encoding: 'utf8' });
    if (r.status !== 0 || !r.stderr.includes(expect)) throw new Error(`expected ${expect}:\n${r.stderr}`);
  };
  const vite = () => {
    const r = spawnSync(join(app, 'node_modules/.bin/vite'), ['build'], { cwd: app, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  };
  const viteRounds = Number(process.env.VITE_ROUNDS || 5);
  const hitCache = join(work, 'cache-hit');
  runwire({ RUNWIRE_CACHE_DIR: hitCache }, 'cache miss'); // fills the cache the hits use
  const plain = [];
  const miss = [];
  const hit = [];
  for (let i = 0; i < viteRounds; i++) {
    plain.push(timed(vite));
    const fresh = join(work, `cache-miss-${i}`);
    miss.push(timed(() => runwire({ RUNWIRE_CACHE_DIR: fresh }, 'cache miss')));
    rmSync(fresh, { recursive: true, force: true });
    hit.push(timed(() => runwire({ RUNWIRE_CACHE_DIR: hitCache }, 'cache hit')));
  }
  const [mp, mm, mh] = [median(plain), median(miss), median(hit)];
  console.log(`\nvite 8.3.8 fixture build (${viteRounds} runs each, medians)`);
  console.log(`  plain vite build, no runner           ${ms(mp)}`);
  console.log(`  runwire run build, uncached (miss)    ${ms(mm)}`);
  console.log(`  runwire run build, cache hit          ${ms(mh)}`);
  console.log(`  hit vs uncached: ${(mm / mh).toFixed(1)}x faster; hit vs plain vite: ${(mp / mh).toFixed(1)}x faster (goal >= 10x)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
