#!/usr/bin/env bash
# Runs the conformance suite for every client of this repository (Rust, Python, Node), each
# with its expected-failure list, then the server checks against the reference server.
# Builds what it needs; the Python package must be installed (scripts/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --locked --quiet -p runwire-conformance -p runwire-node
bin="$target/debug"
harness="$bin/runwire-conformance"
status=0

suite() {
  local title="$1"
  shift
  echo "== conformance: $title"
  "$harness" client "$@" || status=1
}

suite "Rust client (runwire-client)" \
  --failure-list conformance/testees/rust/failures.txt -- "$bin/runwire-conformance-testee"

# The interpreter itself, not a version manager's shim: every case starts a testee.
python="$(python3 -c 'import sys; print(sys.executable)')"
suite "Python client (runwire on PyPI)" \
  --failure-list conformance/testees/python/failures.txt -- "$python" conformance/testees/python/testee.py

# Under a runner the addon comes from RUNWIRE_NODE_ADDON, as a `.node` file.
addon_dir="$(mktemp -d)"
trap 'rm -rf "$addon_dir"' EXIT
cp "$bin/librunwire_node.so" "$addon_dir/runwire.node"
RUNWIRE_NODE_ADDON="$addon_dir/runwire.node" suite "Node client (runwire on npm)" \
  --failure-list conformance/testees/node/failures.txt -- node conformance/testees/node/testee.mjs

echo "== conformance: reference server (runwire-server)"
"$harness" server -- "$harness" reference-server || status=1

exit "$status"
