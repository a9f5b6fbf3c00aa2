#!/usr/bin/env bash
# The one test command: every test suite of the project, Rust first.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked
