#!/usr/bin/env bash
# The one test command: every test suite of the project, Rust first.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked

# Python client (config: clients/python/pyproject.toml; finds the Rust binaries in
# $CARGO_TARGET_DIR or target/).
python3 -m pytest clients/python/tests
