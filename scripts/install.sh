#!/usr/bin/env bash
# The one install command: everything the tests need on a fresh machine of this kind
# (Debian + rustup toolchain + python3 + node). Safe to run again; each step skips work
# that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages the tests use: strace (tracer benchmark peer), busybox-static (a static
# binary the LD_PRELOAD tracer cannot see), golang-go (a real Go toolchain for the tracer),
# zsh and fish (they syntax-check `runwire completions`).
apt_packages=(strace busybox-static golang-go zsh fish)
# python3-venv: scripts/check-pypi-cli.sh installs the CLI wheel into a fresh venv, and a
# Debian python3 has no ensurepip without it.
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then apt_packages+=(python3-venv); fi
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# Build the whole workspace once so the test command starts from compiled artifacts.
cargo build --workspace --all-targets --locked

# Python client (clients/python): the build and test tools, then the package itself, built
# from source through maturin's PEP 517 backend. --no-build-isolation reuses the maturin just
# installed (no second download); a fixed CARGO_TARGET_DIR keeps rebuilds incremental.
# PIP_BREAK_SYSTEM_PACKAGES: a Debian system python3 refuses user installs otherwise.
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
python3 -m pip install --quiet "maturin>=1.9,<2" pytest mypy
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" \
  python3 -m pip install --quiet --no-build-isolation ./clients/python

# Node client (clients/node): its dev dependencies (@napi-rs/cli for the .d.ts, the published
# @voidzero-dev/vite-task-client 0.2.0 for the parity test) and the vite e2e fixture app
# (vite 8.3.8, pinned in its package-lock.json). The addon itself was built by the cargo
# build above (librunwire_node.so beside the runwire binary, and embedded in it by
# crates/runwire/build.rs through a nested cargo build in $CARGO_TARGET_DIR/node-addon).
# The real tools of the twin-tree tests and the oracle (crates/runwire/tests/twin.rs,
# crates/runwire-oracle): typescript, eslint, esbuild, vite 8 and a Node 22 in
# tests/twins/_tools, tsdown in tests/twins/_tools_tsdown, each pinned in its package-lock.json.
for dir in clients/node clients/node/test/vite-app crates/runwire/tests/twins/_tools; do
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
done
# `npm ci` refuses tsdown's lockfile (npm leaves rolldown 1.0.0-beta's optional platform
# bindings out of it, then calls it out of sync); `npm install` honours the pinned versions.
npm install --prefix crates/runwire/tests/twins/_tools_tsdown --no-audit --no-fund --loglevel=error

# Remote cache test servers (crates/runwire-remote tests start them on 127.0.0.1):
# turborepo-remote-cache (pinned in its package-lock.json) and buildgrid 0.4.4 (`bgd`).
npm ci --prefix crates/runwire-remote/tests/servers/turbo --no-audit --no-fund --loglevel=error
python3 -m pip install --quiet "buildgrid==0.4.4"
