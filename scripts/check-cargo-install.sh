#!/usr/bin/env bash
# `cargo install` gives a working binary, two ways, each run on the README quick start
# (scripts/quickstart-check.sh), both through $CARGO_TARGET_DIR so the test run's compiled
# dependencies are reused:
#
# 1. `cargo install --path crates/runwire --debug` into a scratch root;
# 2. the same from the packaged crates, as `cargo install runwire` would get them from
#    crates.io: `cargo package` of every published crate (README, "Install"), unpacked, the
#    unpublished versions supplied through `[patch.crates-io]`, and installed from there. No
#    `clients/node` is beside the unpacked runwire crate, so its Node addon can only come
#    from the packaged runwire-node crate; the quick start's hits show it did (a run that
#    exec'd Node is cached only with the addon).
#
# Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
published=(runwire-model runwire-proto runwire-client runwire-node runwire-server runwire-artifact
  runwire-trace runwire-fingerprint runwire-remote runwire-cache runwire)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

start=$SECONDS
cargo install --quiet --offline --locked --debug --path crates/runwire --root "$scratch/from-path"
[ "$(ls "$scratch/from-path/bin")" = runwire ] || {
  echo "check-cargo-install: $scratch/from-path/bin holds: $(ls "$scratch/from-path/bin")" >&2
  exit 1
}
echo "check-cargo-install: cargo install --path: $((SECONDS - start)) s"
bash scripts/quickstart-check.sh "$scratch/from-path/bin/runwire"

start=$SECONDS
package_args=()
for name in "${published[@]}"; do package_args+=(-p "$name"); done
cargo package --quiet --offline --no-verify --allow-dirty --target-dir "$scratch/package-target" \
  "${package_args[@]}"
mkdir -p "$scratch/crates/.cargo"
{
  echo '[patch.crates-io]'
  for name in "${published[@]}"; do
    tar -xzf "$scratch/package-target/package/$name-0.1.0.crate" -C "$scratch/crates"
    echo "$name = { path = \"$name-0.1.0\" }"
  done
} >"$scratch/crates/.cargo/config.toml"
# The unpacked files keep the crates' old timestamps, and cargo (which judges path packages
# by mtime, and whose unit hashes do not include their directory) would take build scripts
# compiled from an earlier check's sources as fresh.
find "$scratch/crates" -type f -exec touch {} +
[ ! -e "$scratch/crates/runwire-0.1.0/tests" ] || { echo "check-cargo-install: tests/ was packaged" >&2; exit 1; }
# From the unpacked crates' directory, so that its .cargo/config.toml (the patches) applies,
# to the nested build of the addon too.
(cd "$scratch/crates" && cargo install --quiet --offline --debug --path runwire-0.1.0 --root "$scratch/from-crates")
echo "check-cargo-install: cargo install of the packaged crates: $((SECONDS - start)) s"
bash scripts/quickstart-check.sh "$scratch/from-crates/bin/runwire"
