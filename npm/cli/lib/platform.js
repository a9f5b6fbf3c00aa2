'use strict';
// Which per-platform package holds the native `runwire` binary for this machine, and where
// that binary is. Shared by the launcher (bin/runwire) and the postinstall step (install.js).

const fs = require('node:fs');
const path = require('node:path');

// `<os>-<cpu>[-<libc>]` -> the optional dependency that carries that binary. Keep in step
// with optionalDependencies in package.json and with scripts/pack-npm.sh.
const PACKAGES = {
  'linux-x64-gnu': '@runwire/cli-linux-x64-gnu',
  'linux-arm64-gnu': '@runwire/cli-linux-arm64-gnu',
};

/** `gnu` or `musl` on Linux (Node's own report names the glibc it runs on), else null. */
function libc() {
  if (process.platform !== 'linux') return null;
  try {
    const header = process.report.getReport().header;
    return header.glibcVersionRuntime ? 'gnu' : 'musl';
  } catch {
    return fs.existsSync('/etc/alpine-release') ? 'musl' : 'gnu';
  }
}

/** This machine's key in PACKAGES, e.g. `linux-x64-gnu`. */
function platformKey() {
  const c = libc();
  return [process.platform, process.arch, c].filter(Boolean).join('-');
}

/**
 * The native binary for this machine: `{ path }`, or `{ error }` saying which package was
 * expected for which platform.
 */
function findBinary() {
  const key = platformKey();
  const name = PACKAGES[key];
  if (!name) {
    return {
      error:
        `runwire: no prebuilt binary for this platform (${key}). Prebuilt: ` +
        `${Object.keys(PACKAGES).join(', ')}. Other platforms: \`cargo install runwire\`.`,
    };
  }
  let dir;
  try {
    dir = path.dirname(require.resolve(`${name}/package.json`, { paths: [__dirname] }));
  } catch {
    return {
      error:
        `runwire: the package ${name} is not installed, and it holds the binary for this ` +
        `platform (${key}). It is an optional dependency of @runwire/cli: reinstall without ` +
        `--no-optional / --omit=optional (and check that your lockfile was made with ` +
        `optional dependencies for every platform).`,
    };
  }
  const binary = path.join(dir, 'bin', 'runwire');
  if (!fs.existsSync(binary)) {
    return { error: `runwire: ${name} is installed but has no ${binary}.` };
  }
  return { path: binary, package: name, key };
}

module.exports = { PACKAGES, platformKey, findBinary };
