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
