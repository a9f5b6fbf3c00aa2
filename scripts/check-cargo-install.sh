#!/usr/bin/env bash
# `cargo install --path crates/runwire` gives a working binary: installs a debug build into a
# scratch root (through $CARGO_TARGET_DIR, so the test run's compiled dependencies are reused)
# and runs the README quick start with it (scripts/quickstart-check.sh). Run by
# scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
start=$SECONDS
cargo install --quiet --locked --debug --path crates/runwire --root "$scratch"
ls "$scratch/bin" | grep -qx runwire || { echo "check-cargo-install: no $scratch/bin/runwire" >&2; exit 1; }
echo "check-cargo-install: installed in $((SECONDS - start)) s; bin/ holds: $(ls "$scratch/bin" | tr '\n' ' ')"
bash scripts/quickstart-check.sh "$scratch/bin/runwire"
