#!/usr/bin/env bash
# The PyPI wheel `runwire-cli` (packaging/pypi-cli, maturin `bindings = "bin"`): builds it
# (debug profile through $CARGO_TARGET_DIR, so only the runwire crate is compiled again),
# installs it into a fresh venv with no index (`pip install --no-index`) and runs the README
# quick start with the venv's `runwire` (scripts/quickstart-check.sh). Run by
# scripts/test.sh. A release wheel: `maturin build --release` in packaging/pypi-cli.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
start=$SECONDS
(cd packaging/pypi-cli && python3 -m maturin build --quiet --offline --locked --profile dev --out "$scratch/wheels")
wheels=("$scratch"/wheels/runwire_cli-*.whl)
[ -f "${wheels[0]}" ] || { echo "check-pypi-cli: no wheel built" >&2; exit 1; }
echo "check-pypi-cli: built $(basename "${wheels[0]}") in $((SECONDS - start)) s"

python3 -m venv "$scratch/venv"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$scratch/venv/bin/python" -m pip install --quiet --no-index "${wheels[0]}"
[ -x "$scratch/venv/bin/runwire" ] || { echo "check-pypi-cli: the venv has no bin/runwire" >&2; exit 1; }
"$scratch/venv/bin/runwire" --version
bash scripts/quickstart-check.sh "$scratch/venv/bin/runwire"
