// The Node testee of the runwire conformance suite: a tool that uses the public API of the npm
// package `runwire` (clients/node) and nothing else. The harness sends one JSON operation per
// stdin line and reads one JSON result per stdout line (conformance/README.md, "Writing a
// testee"). Byte strings are canonical base64 (any other spelling is {"failed"}). JS strings cannot carry bytes that are not UTF-8, so an
// operation with such an argument answers {"unsupported"} (failures.txt lists those cases).
//
// The package comes from RUNWIRE_CONFORMANCE_NODE_PACKAGE (a path or package name), else
// from this repository's clients/node; its addon from RUNWIRE_NODE_ADDON, as under a runner.
import { spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const where = process.env.RUNWIRE_CONFORMANCE_NODE_PACKAGE;
const runwire = (
  await import(where ? (where.startsWith('/') ? pathToFileURL(where).href : where) : '../../../clients/node/index.mjs')
).default;

const strict = new TextDecoder('utf-8', { fatal: true });

class NotUtf8 extends Error {}
class NotBase64 extends Error {}

/**
 * A base64 argument as bytes. Only the canonical spelling is taken, the harness's rule
 * (conformance/README.md, "Writing a testee"): Node 20 has no strict decoder (Buffer skips
 * characters it does not know and takes URL-safe ones, atob skips whitespace and takes a
 * missing '='), so the text must be what encoding its bytes again gives back.
 */
function bytes(request, field) {
  const text = request[field] ?? '';
  const decoded = Buffer.from(text, 'base64');
  const canonical = Array.from(decoded.toString('base64'));
  const chars = Array.from(text);
  let at = 0;
  while (at < chars.length && chars[at] === canonical[at]) at += 1;
  if (at < chars.length) {
    throw new NotBase64(`${field}: not base64: ${JSON.stringify(chars[at])} at character ${at} (not the canonical spelling)`);
  }
  if (at < canonical.length) {
    throw new NotBase64(`${field}: not base64: ends at character ${at}, inside a group of four`);
  }
  return decoded;
}

/** A base64 argument as a JS string; bytes that are not UTF-8 cannot be one. */
function text(request, field) {
  const data = bytes(request, field);
  try {
    return strict.decode(data);
  } catch {
    throw new NotUtf8(`${field} is not UTF-8: a JS string cannot carry it`);
  }
}

const encode = (string) => Buffer.from(string, 'utf8').toString('base64');

function perform(request) {
  const options = { tracked: Boolean(request.tracked) };
  try {
    switch (request.op) {
      case 'get_env': {
        const value = runwire.getEnv(text(request, 'name'), options);
        return { value: value === undefined ? null : encode(value) };
      }
      case 'get_envs': {
        const query = 'glob' in request ? text(request, 'glob') : { prefix: text(request, 'prefix') };
        const found = runwire.getEnvs(query, options);
        return { vars: Object.entries(found).map(([name, value]) => [encode(name), encode(value)]) };
      }
      case 'ignore_input':
        runwire.ignoreInput(text(request, 'path'));
        break;
      case 'ignore_output':
        runwire.ignoreOutput(text(request, 'path'));
        break;
      case 'report_input':
        runwire.reportInput(text(request, 'path'));
        break;
      case 'report_output':
        runwire.reportOutput(text(request, 'path'));
        break;
      case 'report_glob':
        runwire.reportGlob(text(request, 'pattern'));
        break;
      case 'disable_cache':
        runwire.disableCache(request.reason);
        break;
      case 'salt':
        runwire.salt(request.key, text(request, 'value'));
        break;
      case 'chdir':
        process.chdir(text(request, 'path'));
        break;
      case 'own_env': {
        const value = process.env[text(request, 'name')];
        return { value: value === undefined ? null : encode(value) };
      }
      case 'threads': {
        // JS has no shared-memory threads for one client object: the calls run one after
        // another, which still checks that each answer is right and recorded once.
        const results = [];
        for (let i = 0; i < request.threads * request.repeat; i += 1) results.push(perform(request.do));
        return { results };
      }
      case 'fork': {
        // Node cannot fork(): the child is a new process of this testee (inheriting
        // RUNWIRE_SOCKET and the current directory), which is how a Node tool gets children.
        const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {
          input: `${JSON.stringify(request.do)}\n`,
          stdio: ['pipe', 'pipe', 'inherit'],
          encoding: 'utf8',
        });
        return { child: JSON.parse(child.stdout.split('\n')[0]) };
      }
      default:
        return { unsupported: `unknown op ${JSON.stringify(request.op)}` };
    }
  } catch (error) {
    if (error instanceof NotUtf8) return { unsupported: error.message };
    if (error && typeof error.code === 'string' && /^[A-Z_]+$/.test(error.code)) {
      return { error: { code: error.code } };
    }
    return { failed: String(error && error.message ? error.message : error) };
  }
  return { ok: true };
}

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  const request = JSON.parse(line);
  // Leave at once, closing nothing: reports already sent must survive.
  if (request.op === 'exit') process.exit(0);
  process.stdout.write(`${JSON.stringify(perform(request))}\n`);
}
