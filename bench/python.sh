#!/usr/bin/env bash
# Python client start-up benchmark: `python3 -c "pass"` (baseline) vs `python3 -c "import
# runwire; runwire.get_env('X')"` (contender), both under a real protocol server
# (runwire-test-server). Prints means, medians, the added milliseconds and the ratio; the goal
# is <= 5 ms added. Needs the package installed (scripts/install.sh). Not run in CI.
# Extra arguments go to bench/python_startup.py (--runs N, --batch N).
set -euo pipefail
cd "$(dirname "$0")/.."
# Release, as the runner a user runs: a debug server would add its own slowness to the
# contender's handshake and query.
cargo build -q --release -p runwire-test-server
server="${CARGO_TARGET_DIR:-target}/release/runwire-test-server"
"$server" --env X=bench --report /dev/null -- python3 bench/python_startup.py "$@"
