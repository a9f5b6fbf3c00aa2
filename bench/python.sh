#!/usr/bin/env bash
# Python client start-up benchmark: `python3 -c "pass"` (baseline) vs `python3 -c "import
# runwire; runwire.get_env('X')"` (contender), both under a real protocol server
# (runwire-test-server). Prints means, medians, the added milliseconds and the ratio; the goal
# is <= 5 ms added. Needs the package installed (scripts/install.sh). Not run in CI.
# Extra arguments go to bench/python_startup.py (--runs N, --batch N).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p runwire-test-server
server="${CARGO_TARGET_DIR:-target}/debug/runwire-test-server"
"$server" --env X=bench --report /dev/null -- python3 bench/python_startup.py "$@"
