#!/usr/bin/env bash
# Builds the runwire binary as it ships (the npm platform packages, scripts/pack-npm.sh)
# and as bench/peers.sh measures it, then prints its path.
#
# Release profile, and on Linux with glibc statically linked (static-pie, like turbo's
# binary): the process starts without loading libc, libm and libgcc_s or binding their
# symbols, which is a third of a small cache hit (the vite fixture's hit: 2.6 ms static,
# 3.5 ms dynamic, 8 interleaved rounds), and the binary runs on any glibc, not only 2.34
# and later. Host names (the remote cache) still follow /etc/nsswitch.conf: glibc's
# `files` and `dns` sources are linked in, and a source it would have to load (mdns,
# myhostname) and cannot is skipped. Proc macros and build scripts cannot be static, so
# the flag reaches only the target's artifacts (`--target`).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
host=$(rustc -vV | sed -n 's/^host: //p')
case $host in
  *-linux-gnu)
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
      cargo build --release --locked -p runwire --target "$host" >&2
    echo "$target_dir/$host/release/runwire"
    ;;
  *)
    cargo build --release --locked -p runwire >&2
    echo "$target_dir/release/runwire"
    ;;
esac
