#!/usr/bin/env bash
# Protocol benchmark: a raw Unix-socket ping-pong of GetEnv-sized frames (baseline) vs a GetEnv
# round trip through the real runwire-client and runwire-server (contender), plus the
# client-side cost of one fire-and-forget report. Client and server run in separate
# processes, baseline and contender interleaved in batches, each placement pinned and
# measured on its own (client and servers on one CPU, then on different CPUs: the two cost
# ~10 us and ~45 us per round trip on a 2-core VM). Prints p50/p99 and the ratio per
# placement. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p runwire-server --bench protocol
