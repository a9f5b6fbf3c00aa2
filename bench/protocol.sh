#!/usr/bin/env bash
# Protocol benchmark: a raw Unix-socket ping-pong of GetEnv-sized frames (baseline) vs a GetEnv
# round trip through the real runwire-client and runwire-server (contender), plus the
# client-side cost of one fire-and-forget report. Client and server run in separate
# processes. Prints p50/p99 and the ratios. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p runwire-server --bench protocol
