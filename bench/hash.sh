#!/usr/bin/env bash
# Hashing benchmark: runwire's cold hashing vs b3sum on a generated 10,000-file (~200 MB)
# tree, and warm validation of one entry with 10,000 inputs. Prints baseline, contender and
# ratio. Not run in CI. Installs b3sum from crates.io when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v b3sum >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/b3sum" ]; then
  cargo install b3sum --locked
fi
cargo bench -p runwire-cache --bench hash
