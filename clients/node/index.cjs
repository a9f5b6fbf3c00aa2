'use strict';
// The npm package `runwire`: a zero-dependency wrapper over the native addon that the runner
// puts beside every run (its absolute path is in RUNWIRE_NODE_ADDON). No runner, no addon:
// every call is a silent no-op. The addon is loaded on the first call, once per thread.

const ADDON_ENV = 'RUNWIRE_NODE_ADDON';

/** @type {import('./addon').RunwireClient | null | undefined} */
let client;

function isAbsolute(p) {
  return p.startsWith('/') || (process.platform === 'win32' && /^([A-Za-z]:)?[\\/]/.test(p));
}

function warnOnce(message) {
  if (warnOnce.done) return;
  warnOnce.done = true;
  try {
    process.stderr.write(`runwire: ${message}; continuing without the runner, which will not cache precisely\n`);
  } catch {
    // stderr closed: nothing left to tell.
  }
}

function load() {
  if (client !== undefined) return client;
  client = null;
  const addonPath = process.env[ADDON_ENV];
  if (!addonPath) return client;
  try {
    // An absolute path from the runner; a relative one must not be looked up beside this
    // file (or in node_modules), so it is taken from the working directory. Loaded with
    // process.dlopen, not require: require's resolution (stat, realpath of every parent)
    // costs ~0.3 ms of start-up and its module cache buys nothing, `client` is the cache.
    // No `node:path` either: every module loaded is start-up time (bench/node.sh).
    const addon = { exports: {} };
    process.dlopen(addon, isAbsolute(addonPath) ? addonPath : `${process.cwd()}/${addonPath}`);
    const exported = addon.exports;
    // loadRunwire(), not load(): load() is vite-task's compatibility object, whose
    // disableCache the runner does not let decide.
    const loaded = exported && typeof exported.loadRunwire === 'function' ? exported.loadRunwire() : undefined;
    if (!loaded || typeof loaded.getEnv !== 'function') {
      warnOnce(`${ADDON_ENV}=${addonPath} is not a runwire addon (no loadRunwire() returning a client)`);
      return client;
    }
    client = loaded;
  } catch (error) {
    warnOnce(`cannot load the addon at ${ADDON_ENV}=${addonPath} (${error && error.message ? error.message.split('\n')[0] : error})`);
  }
  return client;
}

/**
 * The runner's value of `name`, or undefined (unset, or no runner). `tracked` defaults to
 * true: a change of the variable invalidates the cached run. process.env is not modified.
 */
function getEnv(name, options) {
  const c = load();
  return c ? c.getEnv(name, options) : undefined;
}

/** Every runner variable matching a glob ("VITE_*") or {prefix}, as a plain object. */
function getEnvs(query, options) {
  const c = load();
  return c ? c.getEnvs(query, options) : {};
}

/** Reads at or under `path` are not inputs of this run. */
function ignoreInput(p) {
  const c = load();
  if (c) c.ignoreInput(p);
}

/** Writes at or under `path` are not outputs of this run and are never archived. */
function ignoreOutput(p) {
  const c = load();
  if (c) c.ignoreOutput(p);
}

/** This run must not be cached; `reason` is shown to the user. */
function disableCache(reason) {
  const c = load();
  if (c) c.disableCache(reason);
}

/** `path` is an input even if the runner did not see it read. */
function reportInput(p) {
  const c = load();
  if (c) c.reportInput(p);
}

/** `path` is an output of this run even if the runner did not see it written. */
function reportOutput(p) {
  const c = load();
  if (c) c.reportOutput(p);
}

/** The run depends on the set of files matching `pattern` (relative to the cwd). */
function reportGlob(pattern) {
  const c = load();
  if (c) c.reportGlob(pattern);
}

/** A fact the outputs depend on that the runner cannot observe (a compiler version). */
function salt(key, value) {
  const c = load();
  if (c) c.salt(key, value);
}

/** Whether this process runs under a runwire runner with a working addon. */
function isActive() {
  const c = load();
  return Boolean(c && c.active);
}

module.exports = {
  getEnv,
  getEnvs,
  ignoreInput,
  ignoreOutput,
  disableCache,
  reportInput,
  reportOutput,
  reportGlob,
  salt,
  isActive,
};
