#!/usr/bin/env bash
# A/B of two runwire revisions on the hit path, interleaved in one run (A B A B ...):
#   - a no-op task hit;
#   - the vite 8 fixture (clients/node/test/vite-app) build hit;
#   - 200 packages x 5 tasks, all hits (`runwire run t5 -r`).
# Usage: bench/ab.sh BASE_REV [ROUNDS]   (contender: the working tree)
# Builds both release binaries (BASE in a scratch worktree, its own target dir), primes each
# binary's own cache, then prints per workload the medians, the min-max spread and the ratio
# contender/base. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
base_rev=${1:?usage: bench/ab.sh BASE_REV [ROUNDS]}
rounds=${2:-15}
repo=$PWD
scratch=${AB_SCRATCH:-$HOME/.cache/runwire/ab}
mkdir -p "$scratch"

target=${CARGO_TARGET_DIR:-$repo/target}
cargo build -q --release -p runwire
contender=$scratch/runwire-contender
cp "$target/release/runwire" "$contender"
[ -f "$target/release/librunwire_node.so" ] && cp "$target/release/librunwire_node.so" "$scratch/"

base_dir=$scratch/base-src
rm -rf "$base_dir"
git worktree add -q --detach "$base_dir" "$base_rev"
trap 'git -C "$repo" worktree remove --force "$base_dir" >/dev/null 2>&1 || true' EXIT
(cd "$base_dir" && CARGO_TARGET_DIR=$scratch/base-target cargo build -q --release -p runwire)
mkdir -p "$scratch/base-bin"
base=$scratch/base-bin/runwire
cp "$scratch/base-target/release/runwire" "$base"
[ -f "$scratch/base-target/release/librunwire_node.so" ] &&
  cp "$scratch/base-target/release/librunwire_node.so" "$scratch/base-bin/"

work=$(mktemp -d)
trap 'rm -rf "$work"; git -C "$repo" worktree remove --force "$base_dir" >/dev/null 2>&1 || true' EXIT

# Workspaces, one copy per binary so each keeps its own cache.
make_noop() { mkdir -p "$1" && echo '{"name":"bench","scripts":{"noop":"true"}}' > "$1/package.json"; }
make_chain() {
  mkdir -p "$1/packages"
  echo '{"name":"root","private":true,"workspaces":["packages/*"]}' > "$1/package.json"
  echo '{"tasks":{"t2":{"dependsOn":["t1"]},"t3":{"dependsOn":["t2"]},"t4":{"dependsOn":["t3"]},"t5":{"dependsOn":["t4"]}}}' > "$1/runwire.json"
  for i in $(seq -w 0 199); do
    mkdir -p "$1/packages/p$i"
    echo "{\"name\":\"p$i\",\"scripts\":{\"t1\":\"true\",\"t2\":\"true\",\"t3\":\"true\",\"t4\":\"true\",\"t5\":\"true\"}}" > "$1/packages/p$i/package.json"
  done
}
make_vite() { cp -r clients/node/test/vite-app "$1"; rm -rf "$1/dist" "$1/node_modules/.cache"; }

declare -A args=([noop]="run noop" [vite]="run build" [chain]="run t5 -r")
for w in noop vite chain; do
  for side in base contender; do
    "make_$w" "$work/$w-$side"
  done
done

now_ns() { date +%s%N; }
run() { # side workload -> elapsed ms
  local bin=${!1} dir=$work/$2-$1
  local t0 t1
  t0=$(now_ns)
  (cd "$dir" && NO_COLOR=1 "$bin" ${args[$2]} >/dev/null 2>"$work/last.err") ||
    { echo "runwire ($1) failed on $2:" >&2; cat "$work/last.err" >&2; exit 1; }
  t1=$(now_ns)
  echo $(((t1 - t0) / 1000))
}

stats() { # numbers (us) -> "median min max" in ms
  sort -n | awk '{a[NR]=$1} END {printf "%.2f %.2f %.2f\n", a[int((NR+1)/2)]/1000, a[1]/1000, a[NR]/1000}'
}

printf 'base %s vs contender (working tree), %d interleaved rounds\n' "$base_rev" "$rounds"
for w in noop vite chain; do
  for side in base contender; do
    run "$side" "$w" >/dev/null # the miss that stores
    run "$side" "$w" >/dev/null # a first hit (warm page cache)
    grep -q "cache hit" "$work/last.err" || { echo "$side: $w is not a hit:" >&2; cat "$work/last.err" >&2; exit 1; }
  done
  : > "$work/base.t"
  : > "$work/contender.t"
  for _ in $(seq "$rounds"); do
    run base "$w" >> "$work/base.t"
    run contender "$w" >> "$work/contender.t"
  done
  read -r bm bmin bmax < <(stats < "$work/base.t")
  read -r cm cmin cmax < <(stats < "$work/contender.t")
  ratio=$(awk -v a="$bm" -v b="$cm" 'BEGIN {printf "%.2f", b / a}')
  printf '%-6s base %8.2f ms [%.2f-%.2f]   contender %8.2f ms [%.2f-%.2f]   ratio %sx\n' \
    "$w" "$bm" "$bmin" "$bmax" "$cm" "$cmin" "$cmax" "$ratio"
done
