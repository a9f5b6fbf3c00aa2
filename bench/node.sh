#!/usr/bin/env bash
# Node client benchmark (issue 8): client start-up cost and the vite fixture's cache hit.
# Builds the release binaries + addon first; needs scripts/install.sh's npm installs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p runwire -p runwire-node -p runwire-test-server
PROFILE=release node bench/node.mjs
