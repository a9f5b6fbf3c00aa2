#!/usr/bin/env bash
# The one test command: every test suite of the project, Rust first.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked

# Python client (config: clients/python/pyproject.toml; finds the Rust binaries in
# $CARGO_TARGET_DIR or target/).
python3 -m pytest clients/python/tests

# Node client and the vanilla vite e2e (finds the Rust binaries in $CARGO_TARGET_DIR or
# target/; installed by scripts/install.sh), then the committed addon.d.ts against what
# napi-rs generates from the current Rust source.
(cd clients/node && node --test test/*.test.mjs && node scripts/dts.mjs --check)

# Conformance suite (conformance/README.md): the Rust, Python and Node clients through every
# case with their expected-failure lists, then the server checks on the reference server.
conformance/run.sh

# Installing (README, "Install"), each from what the runs above already built: the npm
# packages installed offline from local tarballs (postinstall and --ignore-scripts), the
# PyPI wheel in a fresh venv, and `cargo install` from the checkout and from the packaged
# crates. Last, since the packaged build relinks $CARGO_TARGET_DIR/debug/runwire from its
# own sources until the next cargo build.
node --test npm/test/
bash scripts/check-pypi-cli.sh
# The binary npm ships: release, statically linked (scripts/build-release.sh).
bash scripts/check-release-binary.sh
bash scripts/check-cargo-install.sh
