#!/usr/bin/env bash
# runwire against Turborepo's native binary (pinned in bench/peers/package-lock.json; the
# npm launcher in front of it costs ~100 ms of Node and is not what is measured), and against
# vite-plus's `vp run --cache` where it applies (the vite fixture), side by side in one run:
# per round, each workload once per tool (A B A B ...). Workloads, all cache hits unless
# named otherwise:
#   noop        one package, one no-op task
#   chain       200 packages x 5 tasks (t5 needs t4 ... needs t1)
#   wide        1,000 packages x 1 task
#   outputs     one task writing 50,000 small files: its build, a hit with the outputs in
#               place, a hit with them gone (moved aside; runwire vs its own build and vs
#               turbo's restore of the same outputs)
#   inputs      one task reading 10,000 input files
#   vite        the vite 8 fixture app (clients/node/test/vite-app), `vite build`
#   globs       (runwire only) a Python tool reporting 10,000 distinct globs: its hit
#               against the task run without the cache
# Prints medians, the min-max spread, the ratio runwire/turbo and a verdict against the
# goals of issue #24, then the peak RSS of runwire's chain run. Not run in CI.
# Usage: bench/peers.sh [ROUNDS]   (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-7}
repo=$PWD
target=${CARGO_TARGET_DIR:-$repo/target}
scratch=${PEERS_SCRATCH:-$HOME/.cache/runwire/peers}
mkdir -p "$scratch"

# The binary as it ships (statically linked on glibc, as turbo's is).
runwire=$(bash scripts/build-release.sh)
spawn_time=$target/spawn_time
cc -O2 -Wall -o "$spawn_time" bench/spawn_time.c
npm ci --prefix bench/peers --no-audit --no-fund --loglevel=error >/dev/null
turbo=$repo/bench/peers/node_modules/@turbo/linux-64/bin/turbo
# vite-plus ships `vp` as a Node script (its runner is a napi addon): that is how it runs.
vp=$repo/bench/peers/node_modules/.bin/vp
[ -x "$turbo" ] || { echo "turbo's native binary is missing: $turbo" >&2; exit 2; }
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 TURBO_NO_UPDATE_NOTIFIER=1 NO_COLOR=1

# The generated workspaces are kept between runs (turbo's cold runs go through `npm run`,
# minutes for 1,000 tasks). Each workload's pair is generated once (marker `.ready-<name>`);
# bump GENERATION when the generator below changes.
GENERATION=2
work=$scratch/ws-$GENERATION
for old in "$scratch"/ws-* "$scratch"/run.*; do
  [ -e "$old" ] && [ "$old" != "$work" ] && rm -rf "$old"
done
mkdir -p "$work"
ready() { [ -e "$work/.ready-$1" ]; }

# One workspace per tool: npm workspaces with a lockfile (turbo wants one), a git repo
# (turbo hashes through git), and each tool's config.
# make_ws DIR PACKAGES -- writes packages/pNNN with the scripts given on stdin (JSON object).
make_ws() {
  local dir=$1 count=$2 scripts
  scripts=$(cat)
  mkdir -p "$dir/packages"
  echo '{"name":"root","private":true,"packageManager":"npm@10.9.4","workspaces":["packages/*"]}' >"$dir/package.json"
  for i in $(seq -w 1 "$count"); do
    mkdir -p "$dir/packages/p$i"
    echo "{\"name\":\"p$i\",\"private\":true,\"scripts\":$scripts}" >"$dir/packages/p$i/package.json"
  done
  # Outputs stay out of git, where turbo would take them for inputs.
  printf 'node_modules\n.turbo\nout\nsum.txt\n' >"$dir/.gitignore"
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null && git init -q . &&
    git add -A >/dev/null 2>&1 && git -c user.email=b@b -c user.name=b commit -qm init)
}

# turbo.json and runwire.json: the same task graph.
configure() { # dir workload
  local dir=$1
  case $2 in
    chain)
      echo '{"tasks":{"t1":{},"t2":{"dependsOn":["t1"]},"t3":{"dependsOn":["t2"]},"t4":{"dependsOn":["t3"]},"t5":{"dependsOn":["t4"]}}}' >"$dir/turbo.json"
      echo '{"tasks":{"t2":{"dependsOn":["t1"]},"t3":{"dependsOn":["t2"]},"t4":{"dependsOn":["t3"]},"t5":{"dependsOn":["t4"]}}}' >"$dir/runwire.json"
      ;;
    outputs) echo '{"tasks":{"build":{"outputs":["out/**"]}}}' >"$dir/turbo.json" ;;
    inputs) echo '{"tasks":{"build":{"outputs":["sum.txt"]}}}' >"$dir/turbo.json" ;;
    *) echo '{"tasks":{"t1":{},"noop":{}}}' >"$dir/turbo.json" ;;
  esac
}

declare -A scripts=(
  [noop]='{"noop":"true"}'
  [chain]='{"t1":"true","t2":"true","t3":"true","t4":"true","t5":"true"}'
  [wide]='{"t1":"true"}'
  [outputs]='{"build":"mkdir -p out && i=0; while [ $i -lt 50000 ]; do echo $i > out/f$i.txt; i=$((i+1)); done"}'
  [inputs]='{"build":"cat src/*/*.txt | wc -c > sum.txt"}'
)
declare -A counts=([noop]=1 [chain]=200 [wide]=1000 [outputs]=1 [inputs]=1)
declare -A runwire_args=([noop]="run noop -r" [chain]="run t5 -r" [wide]="run t1 -r" [outputs]="run build -r" [inputs]="run build -r")
declare -A turbo_args=([noop]="run noop" [chain]="run t5" [wide]="run t1" [outputs]="run build" [inputs]="run build")

for w in noop chain wide outputs inputs; do
  ready "$w" && continue
  for tool in runwire turbo; do
    rm -rf "$work/$w-$tool"
    make_ws "$work/$w-$tool" "${counts[$w]}" <<<"${scripts[$w]}"
    configure "$work/$w-$tool" "$w"
    if [ "$w" = inputs ]; then
      for d in $(seq -w 1 100); do
        mkdir -p "$work/$w-$tool/packages/p1/src/d$d"
        for f in $(seq -w 1 100); do echo "$d $f" >"$work/$w-$tool/packages/p1/src/d$d/f$f.txt"; done
      done
      (cd "$work/$w-$tool" && git add -A && git -c user.email=b@b -c user.name=b commit -qm inputs)
    fi
  done
  touch "$work/.ready-$w"
done

# The vite fixture, as a single-package repo for both tools (its node_modules as installed
# by scripts/install.sh).
if ! ready vite; then
  [ -d clients/node/test/vite-app/node_modules/vite ] || { echo "run scripts/install.sh first (vite-app)" >&2; exit 2; }
  for tool in runwire turbo; do
    dir=$work/vite-$tool
    rm -rf "$dir"
    cp -a clients/node/test/vite-app "$dir"
    rm -rf "$dir/dist" "$dir/node_modules/.cache"
    python3 - "$dir/package.json" <<'PY'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d["packageManager"] = "npm@10.9.4"
json.dump(d, open(p, "w"), indent=2)
PY
    echo '{"tasks":{"build":{"outputs":["dist/**"]}}}' >"$dir/turbo.json"
    printf 'node_modules\ndist\n.turbo\n' >"$dir/.gitignore"
    (cd "$dir" && git init -q . && git add -A && git -c user.email=b@b -c user.name=b commit -qm init)
  done
  # A tool that reports 10,000 distinct globs through the Python client (runwire only).
  dir=$work/globs-runwire
  rm -rf "$dir"
  mkdir -p "$dir"
  echo '{"name":"globs","private":true,"scripts":{"build":"python3 report.py"}}' >"$dir/package.json"
  for d in $(seq 1 100); do
    mkdir -p "$dir/src/d$d"
    for f in $(seq -w 0 99); do echo "$d $f" >"$dir/src/d$d/f$f.txt"; done
  done
  cat >"$dir/report.py" <<'PY'
import runwire
for i in range(10000):
    runwire.report_glob(f"src/d{i % 100 + 1}/f{i // 100:02d}*.txt")
open("out.txt", "w").write("reported\n")
PY
  touch "$work/.ready-vite"
fi
# vite-plus (`vp run --cache`) applies to the vite fixture only: a copy of its own.
if [ ! -e "$work/vite-vp/.git" ]; then
  rm -rf "$work/vite-vp"
  cp -a clients/node/test/vite-app "$work/vite-vp"
  rm -rf "$work/vite-vp/dist" "$work/vite-vp/node_modules/.cache"
  printf 'node_modules\ndist\n' >"$work/vite-vp/.gitignore"
  (cd "$work/vite-vp" && git init -q . && git add -A && git -c user.email=b@b -c user.name=b commit -qm init)
fi
runwire_args[vite]="run build"
turbo_args[vite]="run build"
python3 -c 'import runwire' 2>/dev/null || { echo "the runwire Python client is missing (scripts/install.sh)" >&2; exit 2; }

# timed DIR CMD...: runs CMD in DIR, its stdout and stderr to $log, and sets $elapsed_us;
# returns CMD's status. bench/spawn_time.c times the spawn to the exit and nothing else (no
# shell fork, no `date` process: those cost ~3 ms per run, paid by both tools alike, which
# pulled every ratio towards 1), as `hyperfine -N` does.
log=$work/.last-output
elapsed_us=0
timed() {
  local dir=$1 status=0
  shift
  elapsed_us=$(cd "$dir" && "$spawn_time" "$log" "$@") || status=$?
  return $status
}

# run TOOL WORKLOAD [must-hit|force] -> elapsed microseconds on stdout. `force` makes
# runwire run every task and store it again: the entries a round hits are then written by
# the build under test, not by whatever built the scratch workspace before (an older store
# format would send the hits down an older path). Turbo's format does not change under us,
# and forcing it would run 1,000 tasks through `npm run` (minutes).
run() {
  local tool=$1 w=$2 dir=$work/$2-$1 out force=()
  [ "${3:-}" = force ] && force=(--force)
  if [ "$tool" = runwire ]; then
    # shellcheck disable=SC2086
    timed "$dir" "$runwire" ${runwire_args[$w]} "${force[@]}" || { echo "runwire failed on $w: $(cat "$log")" >&2; exit 1; }
  elif [ "$tool" = vp ]; then
    timed "$dir" "$vp" run --cache build || { echo "vp failed on $w: $(cat "$log")" >&2; exit 1; }
  else
    # shellcheck disable=SC2086
    timed "$dir" "$turbo" ${turbo_args[$w]} --output-logs=none || { echo "turbo failed on $w: $(cat "$log")" >&2; exit 1; }
  fi
  out=$(cat "$log")
  if [ "${3:-}" = must-hit ]; then
    if [ "$tool" = runwire ] && grep -q "cache miss" <<<"$out"; then
      echo "runwire: $w is not all hits:" >&2; echo "$out" | head -20 >&2; exit 1
    fi
    if [ "$tool" = vp ] && ! grep -q "cache hit" <<<"$out"; then
      echo "vp: $w is not a hit:" >&2; echo "$out" | tail -5 >&2; exit 1
    fi
    if [ "$tool" = turbo ] && ! grep -Eq 'Cached: +([0-9]+) cached, \1 total' <<<"$out"; then
      echo "turbo: $w is not all hits:" >&2; echo "$out" | tail -5 >&2; exit 1
    fi
  fi
  echo "$elapsed_us"
}

stats() { sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f %.1f\n", a[int((NR+1)/2)]/1000, a[1]/1000, a[NR]/1000}'; }
verdict() { awk -v r="$1" -v g="$2" 'BEGIN {print (r <= g ? "met" : "MISSED")}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

printf 'runwire %s vs turbo %s (native), %d interleaved rounds, %s, %d cores\n' \
  "$(git -C "$repo" rev-parse --short HEAD)" "$("$turbo" --version)" "$rounds" "$(date -u +%F)" "$(nproc)"

# Hit workloads: prime (runwire's run forced, a run, then a first hit), then the
# rounds: runwire and turbo alternate which goes first, so neither always follows the
# other; vite-plus (~200 ms of Node per run, which leaves every cache cold) gets rounds of
# its own after them.
declare -A goal=([noop]=0.3 [chain]=0.3 [wide]=0.3 [inputs]=0.3 [vite]=0.3)
for w in noop vite chain wide inputs; do
  for tool in runwire turbo; do
    run "$tool" "$w" force >/dev/null
    run "$tool" "$w" >/dev/null
    run "$tool" "$w" must-hit >/dev/null
  done
  : >"$work/r.t"; : >"$work/t.t"; : >"$work/v.t"
  for round in $(seq "$rounds"); do
    if [ $((round % 2)) = 1 ]; then
      run runwire "$w" must-hit >>"$work/r.t"
      run turbo "$w" must-hit >>"$work/t.t"
    else
      run turbo "$w" must-hit >>"$work/t.t"
      run runwire "$w" must-hit >>"$work/r.t"
    fi
  done
  if [ "$w" = vite ]; then
    run vp vite >/dev/null
    run vp vite must-hit >/dev/null
    for _ in $(seq "$rounds"); do
      run vp vite must-hit >>"$work/v.t"
    done
  fi
  read -r rm rmin rmax < <(stats <"$work/r.t")
  read -r tm tmin tmax < <(stats <"$work/t.t")
  r=$(ratio "$rm" "$tm")
  printf '%-8s runwire %8.1f ms [%.1f-%.1f]   turbo %8.1f ms [%.1f-%.1f]   ratio %sx (goal <= %s: %s)\n' \
    "$w" "$rm" "$rmin" "$rmax" "$tm" "$tmin" "$tmax" "$r" "${goal[$w]}" "$(verdict "$r" "${goal[$w]}")"
  if [ "$w" = vite ]; then
    read -r vm vmin vmax < <(stats <"$work/v.t")
    printf '         vite-plus %s (vp run --cache) %8.1f ms [%.1f-%.1f]   runwire/vite-plus %sx\n' \
      "$(node -p 'require("'"$repo"'/bench/peers/node_modules/vite-plus/package.json").version')" \
      "$vm" "$vmin" "$vmax" "$(ratio "$rm" "$vm")"
  fi
done

# 50,000 outputs: the build (a forced run with out/ gone), a hit with the outputs in place,
# a hit with out/ gone; turbo's restore of the same outputs with out/ gone. "Gone" is moved
# aside, not deleted, until the last round: on ext4 without a journal, creating files
# within a minute of a mass delete makes the kernel skip every recently freed inode
# (`recently_deleted` in a profile), which cost the build 6.6-24.9 s and the restores
# 4.7-22.8 s depending on what was deleted how recently, not on the tool. Moved aside,
# every measurement starts from the same state, as after a fresh checkout.
trash=$work/.outputs-aside
rm -rf "$trash"
mkdir -p "$trash"
aside() { [ ! -e "$1" ] || mv "$1" "$trash/$RANDOM$RANDOM$RANDOM"; }
w=outputs
# turbo's first run leaves files its second run hashes: two runs, then a hit.
for tool in runwire turbo; do
  run "$tool" $w >/dev/null
  run "$tool" $w >/dev/null
  run "$tool" $w must-hit >/dev/null
done
: >"$work/build.t"; : >"$work/present.t"; : >"$work/gone.t"; : >"$work/turbo.t"
for _ in $(seq "$rounds"); do
  # The build from scratch, as the restore with out/ gone is: both create 50,000 files.
  aside "$work/$w-runwire/packages/p1/out"
  timed "$work/$w-runwire" "$runwire" run build -r --force
  echo "$elapsed_us" >>"$work/build.t"
  run runwire $w must-hit >>"$work/present.t"
  aside "$work/$w-runwire/packages/p1/out"
  run runwire $w must-hit >>"$work/gone.t"
  aside "$work/$w-turbo/packages/p1/out"
  run turbo $w must-hit >>"$work/turbo.t"
done
rm -rf "$trash"
read -r bm _ _ < <(stats <"$work/build.t")
read -r pm pmin pmax < <(stats <"$work/present.t")
read -r gm gmin gmax < <(stats <"$work/gone.t")
read -r tm tmin tmax < <(stats <"$work/turbo.t")
printf 'outputs  build %.1f ms; hit, outputs present %.1f ms [%.1f-%.1f] = %sx the build (goal <= 0.1: %s)\n' \
  "$bm" "$pm" "$pmin" "$pmax" "$(ratio "$pm" "$bm")" "$(verdict "$(ratio "$pm" "$bm")" 0.1)"
printf '         hit with out/ gone %.1f ms [%.1f-%.1f] = %sx the build (goal <= 1.0: %s), %sx turbo'"'"'s restore %.1f ms [%.1f-%.1f] (goal <= 1.0: %s)\n' \
  "$gm" "$gmin" "$gmax" "$(ratio "$gm" "$bm")" "$(verdict "$(ratio "$gm" "$bm")" 1.0)" \
  "$(ratio "$gm" "$tm")" "$tm" "$tmin" "$tmax" "$(verdict "$(ratio "$gm" "$tm")" 1.0)"

# 10,000 reported globs: the hit against the task run without the cache (goal <= 0.2x).
dir=$work/globs-runwire
(cd "$dir" && "$runwire" run build --force >/dev/null 2>&1 && "$runwire" run build >/dev/null 2>&1)
: >"$work/task.t"; : >"$work/hit.t"
for _ in $(seq "$rounds"); do
  timed "$dir" "$runwire" run build --no-cache
  echo "$elapsed_us" >>"$work/task.t"
  timed "$dir" "$runwire" run build
  grep -q "cache hit" "$log" || { echo "globs: not a hit: $(cat "$log")" >&2; exit 1; }
  echo "$elapsed_us" >>"$work/hit.t"
done
read -r km _ _ < <(stats <"$work/task.t")
read -r hm hmin hmax < <(stats <"$work/hit.t")
printf 'globs    task %.1f ms; hit %.1f ms [%.1f-%.1f] = %sx the task (goal <= 0.2: %s)\n' \
  "$km" "$hm" "$hmin" "$hmax" "$(ratio "$hm" "$km")" "$(verdict "$(ratio "$hm" "$km")" 0.2)"

# Peak RSS of runwire's chain run (all hits).
rss=$(cd "$work/chain-runwire" && python3 -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)' "$runwire" run t5 -r)
printf 'chain    peak RSS of runwire: %s MB (goal <= 64: %s)\n' "$rss" "$(verdict "$rss" 64)"
