#!/usr/bin/env bash
# The fault soak (issue #22): every fault the test suite causes for real, repeated SCALE
# times over, then tried / survived per kind.
#   - fresh-cache starts: 8 real processes opening one new cache at once (40 x SCALE rounds);
#   - kills during store: SIGKILL at seeded points of a store (50 x SCALE);
#   - kills during restore: `runwire run` SIGKILLed at seeded delays during a hit (40 x SCALE);
#   - corrupted files: a garbage index, a damaged table page, a truncated env.key, an
#     unopenable cache (SCALE rounds of each);
#   - tampered manifests: every kind restore must refuse (paths leaving the workspace,
#     .git, node_modules/.bin, setuid, symlinks out, emptying .git or node_modules, the
#     cache's own key) and what store must refuse;
#   - signals: SIGINT, SIGTERM (task ignoring it) and SIGKILL to a real runner and task
#     tree (SCALE rounds of each);
#   - fuzzed frames: seeded random bytes on live server connections (300 x SCALE).
# Usage: bench/faults.sh [SCALE]   (default 3). Exit status 1 when anything did not survive.
# CI runs the same tests once each (SCALE 1) as part of `cargo test`. Not run in CI.
set -uo pipefail
cd "$(dirname "$0")/.."
scale=${1:-3}
export RUNWIRE_SOAK=$scale
log=$(mktemp -t runwire-faults.XXXXXX)
echo "fault soak at scale $scale (log: $log)"
cargo test -q --no-run -p runwire-cache -p runwire -p runwire-server >>"$log" 2>&1 || {
  echo "build failed; see $log"
  exit 2
}

failed=0
# Runs one test filter once; the soak lines it prints are the counts.
soak_test() {
  local out
  out=$(cargo test -q "$@" -- --nocapture --test-threads=1 2>&1)
  local rc=$?
  printf '%s\n' "$out" >>"$log"
  printf '%s\n' "$out" | grep -o 'soak:.*' || true
  if [ "$rc" -ne 0 ]; then
    echo "FAILED: cargo test $*"
    failed=1
  fi
}

# Runs a single-shot fault test SCALE times and counts the passes.
repeat_test() {
  local kind=$1
  shift
  local tried=0 survived=0
  for _ in $(seq "$scale"); do
    tried=$((tried + 1))
    if cargo test -q "$@" -- --test-threads=1 >>"$log" 2>&1; then
      survived=$((survived + 1))
    fi
  done
  echo "soak: $kind: tried $tried, survived $survived"
  [ "$survived" -eq "$tried" ] || failed=1
}

soak_test -p runwire-cache --test fresh_open
soak_test -p runwire-cache --test crash sigkill_at
soak_test -p runwire --test restore_kill
repeat_test "corrupted files (index, table page, key, unopenable; 4 per round)" \
  -p runwire-cache --test recovery
soak_test -p runwire-cache --test store restore_refuses
repeat_test "tampered manifests (what store must refuse)" \
  -p runwire-cache --test store never_stored
repeat_test "signals (SIGINT, SIGTERM ignored, SIGKILLed runner; 3 per round)" \
  -p runwire --test signals
soak_test -p runwire-server --test random_bytes

if [ "$failed" -ne 0 ]; then
  echo "some faults were not survived; see $log"
  exit 1
fi
echo "every fault survived"
