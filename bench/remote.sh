#!/usr/bin/env bash
# Remote cache benchmark (issue 11): on the vite fixture app (clients/node/test/vite-app),
# in one run: cold build (empty cache, no remote), local hit, and remote hit (empty local
# cache, entry on a real turborepo-remote-cache on 127.0.0.1, or buildgrid with KIND=reapi).
# Prints the median of each and the ratios. Needs scripts/install.sh (npm and pip installs).
#   bench/remote.sh            # turbo, 5 runs each
#   KIND=reapi RUNS=3 bench/remote.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
KIND=${KIND:-turbo}
RUNS=${RUNS:-5}

cargo build --release --locked -p runwire -p runwire-node >&2
target=${CARGO_TARGET_DIR:-$repo/target}
runwire=$target/release/runwire

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ "$KIND" = turbo ]; then
  STORAGE_PROVIDER=local STORAGE_PATH="$work/artifacts" STORAGE_PATH_USE_TMP_FOLDER=false \
    TURBO_TOKEN=bench-token PORT=$port HOST=127.0.0.1 LOG_LEVEL=warn \
    crates/runwire-remote/tests/servers/turbo/node_modules/.bin/turborepo-remote-cache \
    >"$work/server.log" 2>&1 &
  server_pid=$!
  export RUNWIRE_REMOTE_CACHE_URL=http://127.0.0.1:$port RUNWIRE_REMOTE_CACHE_TOKEN=bench-token
else
  sed -e "s|@PORT@|$port|" -e "s|@STORAGE@|$work/bgd|" \
    crates/runwire-remote/tests/servers/buildgrid/bgd.yml >"$work/bgd.yml"
  bgd server start "$work/bgd.yml" >"$work/server.log" 2>&1 &
  server_pid=$!
  export RUNWIRE_REMOTE_CACHE_URL=grpc://127.0.0.1:$port
fi
export RUNWIRE_REMOTE_CACHE_KEY=benchmark-shared-secret-0123456789
for _ in $(seq 1 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done

# Two "machines": two copies of the app, each with its own cache dir.
for m in a b; do
  mkdir -p "$work/$m"
  cp -r clients/node/test/vite-app "$work/$m/app"
done

now_ms() { date +%s%3N; }
# run MACHINE CACHE_DIR ARGS...: prints the wall time of one `runwire run build` in ms.
run() {
  local m=$1 cache=$2
  shift 2
  local t0 t1
  t0=$(now_ms)
  RUNWIRE_CACHE_DIR=$cache "$runwire" -C "$work/$m/app" run build "$@" >"$work/last.log" 2>&1 ||
    { cat "$work/last.log" >&2; exit 1; }
  t1=$(now_ms)
  echo $((t1 - t0))
}
expect() {
  grep -q "$1" "$work/last.log" || { echo "expected '$1' in:" >&2; cat "$work/last.log" >&2; exit 1; }
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

cold_ms=() local_ms=() remote_ms=()
for i in $(seq 1 "$RUNS"); do
  rm -rf "$work/a/app/dist" "$work/a/cache-cold"
  cold_ms+=("$(run a "$work/a/cache-cold" --no-remote)")
  expect "cache miss"
done
# Populate the remote from machine A (uploads finish before runwire exits).
run a "$work/a/cache" >/dev/null
expect "cache miss"
grep -q "warning" "$work/last.log" && { cat "$work/last.log" >&2; exit 1; }
for i in $(seq 1 "$RUNS"); do
  rm -rf "$work/a/app/dist"
  local_ms+=("$(run a "$work/a/cache" --no-remote)")
  expect "cache hit"
done
for i in $(seq 1 "$RUNS"); do
  rm -rf "$work/b/app/dist" "$work/b/cache"
  remote_ms+=("$(run b "$work/b/cache")")
  expect "cache hit"
done
cmp -s <(cd "$work/a/app/dist" && find . -type f -exec sha256sum {} + | sort) \
  <(cd "$work/b/app/dist" && find . -type f -exec sha256sum {} + | sort) ||
  { echo "restored dist differs" >&2; exit 1; }

c=$(printf '%s\n' "${cold_ms[@]}" | median)
l=$(printf '%s\n' "${local_ms[@]}" | median)
r=$(printf '%s\n' "${remote_ms[@]}" | median)
echo "remote cache benchmark: vite fixture, $KIND server on 127.0.0.1, median of $RUNS runs"
printf '  %-34s %6s ms\n' "cold build (baseline)" "$c" "local hit" "$l" "remote hit (empty local cache)" "$r"
awk -v c="$c" -v l="$l" -v r="$r" 'BEGIN {
  printf "  cold / remote hit: %.2fx faster\n", c / r
  printf "  cold / local hit:  %.2fx faster\n", c / l
  printf "  remote hit / local hit: %.2fx the time\n", r / l
}'
