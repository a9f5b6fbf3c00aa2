'use strict';
// postinstall of @runwire/cli: replaces the JS launcher bin/runwire with the native binary
// of this platform's package (a hard link, or a copy across file systems), so
// `node_modules/.bin/runwire` starts runwire directly: no Node process in front of every
// run, no second process between a terminal's signals and the runner.
//
// It never fails the install: if anything is off (no package for this platform, a binary
// that does not run), the launcher stays and says what is wrong when it is run.

const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { findBinary } = require('./lib/platform.js');

function main() {
  const found = findBinary();
  if (found.error) {
    process.stderr.write(`${found.error}\n`);
    return;
  }
  const version = require('./package.json').version;
  let reported;
  try {
    reported = execFileSync(found.path, ['--version'], { encoding: 'utf8' }).trim();
  } catch (err) {
    process.stderr.write(
      `runwire: ${found.path} does not run here (${err.message.split('\n')[0]}); ` +
        'keeping the JS launcher.\n',
    );
    return;
  }
  if (reported !== `runwire ${version}`) {
    process.stderr.write(
      `runwire: ${found.package} reports "${reported}", expected "runwire ${version}"; ` +
        'keeping the JS launcher.\n',
    );
    return;
  }

  const launcher = path.join(__dirname, 'bin', 'runwire');
  const temp = path.join(__dirname, 'bin', `.runwire-${process.pid}`);
  try {
    fs.rmSync(temp, { force: true });
    try {
      fs.linkSync(found.path, temp);
    } catch {
      fs.copyFileSync(found.path, temp);
    }
    fs.chmodSync(temp, 0o755);
    // One rename: a concurrent `runwire` sees either the launcher or the binary.
    fs.renameSync(temp, launcher);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    process.stderr.write(`runwire: keeping the JS launcher (${err.message}).\n`);
  }
}

main();
