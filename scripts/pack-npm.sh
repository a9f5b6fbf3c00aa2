#!/usr/bin/env bash
# Packs the npm packages of the CLI: @runwire/cli (the launcher and its postinstall step)
# and one @runwire/cli-<platform> package per binary at hand (this machine's, built here,
# plus any given with --platform-binary). Writes the tarballs (`npm pack`) to the output dir
# and prints their paths, one a line. Nothing is published.
#
#   scripts/pack-npm.sh [--out DIR] [--profile release|debug] [--binary PATH]
#                       [--platform-binary KEY=PATH]...
#
# --profile   build this machine's binary with this cargo profile (default: release, as
#             scripts/build-release.sh builds it: statically linked on glibc);
# --binary    use this already-built binary for this machine instead of building one (the
#             tests pack the debug binary the test run already has);
# --platform-binary linux-arm64-gnu=PATH   also pack another platform's package;
# --out       default: $CARGO_TARGET_DIR/npm (or target/npm).
#
# The staged copy of each binary has its debug info stripped (the packages are downloads);
# the binary itself is left as cargo built it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

target_dir=${CARGO_TARGET_DIR:-$root/target}
out=$target_dir/npm
profile=release
binary=
declare -A binaries=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --platform-binary) binaries[${2%%=*}]=${2#*=}; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "pack-npm.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
done

# This machine's package key, named as npm/cli/lib/platform.js names it.
case $(uname -m) in
  x86_64) cpu=x64 ;;
  aarch64|arm64) cpu=arm64 ;;
  *) cpu=$(uname -m) ;;
esac
libc=gnu
if ldd --version 2>&1 | grep -qi musl; then libc=musl; fi
host_key=linux-$cpu-$libc
[ "$(uname -s)" = Linux ] || { echo "pack-npm.sh: packs Linux binaries only" >&2; exit 1; }

if [ -z "$binary" ]; then
  case $profile in
    release) binary=$(bash scripts/build-release.sh) ;;
    debug|dev) cargo build --locked -p runwire >&2; binary=$target_dir/debug/runwire ;;
    *) echo "pack-npm.sh: --profile is release or debug" >&2; exit 2 ;;
  esac
fi
binaries[$host_key]=$binary

version=$(node -p 'require("./npm/cli/package.json").version')
stage=$out/stage
rm -rf "$stage"
mkdir -p "$stage"
out=$(cd "$out" && pwd)

pack() { # DIR: prints the tarball's path
  local dir=$1 name
  name=$(cd "$dir" && npm pack --pack-destination "$out" --silent --loglevel=error)
  echo "$out/$name"
}

for key in "${!binaries[@]}"; do
  src=npm/cli-$key
  [ -f "$src/package.json" ] || { echo "pack-npm.sh: no package template $src" >&2; exit 1; }
  bin=${binaries[$key]}
  [ -x "$bin" ] || { echo "pack-npm.sh: $bin is not an executable" >&2; exit 1; }
  if [ "$key" = "$host_key" ]; then
    reported=$("$bin" --version)
    [ "$reported" = "runwire $version" ] || {
      echo "pack-npm.sh: $bin says \"$reported\", the npm packages are $version" >&2
      exit 1
    }
  fi
  cp -r "$src" "$stage/cli-$key"
  mkdir -p "$stage/cli-$key/bin"
  cp "$bin" "$stage/cli-$key/bin/runwire"
  chmod 0755 "$stage/cli-$key/bin/runwire"
  if command -v strip >/dev/null; then strip --strip-debug "$stage/cli-$key/bin/runwire"; fi
  pack "$stage/cli-$key"
done

cp -r npm/cli "$stage/cli"
pack "$stage/cli"
rm -rf "$stage"
