#!/usr/bin/env bash
# Runs the README quick start (examples/quickstart, copied to a temp dir) with the given
# `runwire` binary, as an installed binary is used: from PATH, outside this repository.
# Fails unless the first run misses and builds, a second run hits and restores the deleted
# outputs byte for byte, and an edited input misses again. The tasks run `node`, and a run
# that exec'd Node is cached only when the binary carries its Node addon, so the hits also
# show that the addon was embedded.
#
#   scripts/quickstart-check.sh PATH/TO/runwire
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$bin" ] || { echo "quickstart-check: $1 is not an executable" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$root/examples/quickstart" "$work/qs"
rm -rf "$work/qs/node_modules" "$work"/qs/packages/*/dist
cd "$work/qs"
export PATH="$(dirname "$bin"):$PATH"
[ "$(command -v runwire)" = "$bin" ] || { echo "quickstart-check: runwire on PATH is not $bin" >&2; exit 1; }

fail() { echo "quickstart-check: $1" >&2; printf -- '--- stdout\n%s\n--- stderr\n%s\n' "$out" "$err" >&2; exit 1; }
step() { # ARGS...: runs `runwire ARGS`, leaving its stdout and stderr in $out and $err
  out=$(runwire "$@" 2>"$work/stderr") || { err=$(cat "$work/stderr"); fail "runwire $* failed"; }
  err=$(cat "$work/stderr")
}
count() { grep -c -- "$1" <<<"$err" || true; }

step run build -r
[ "$(count 'cache miss')" = 2 ] || fail "first run: expected 2 cache misses"
grep -q 'site: built dist/index.html' <<<"$out" || fail "first run: site was not built"
cp packages/site/dist/index.html "$work/index.first.html"

rm -rf packages/*/dist
step run build -r
[ "$(count 'cache hit')" = 2 ] || fail "second run: expected 2 cache hits"
grep -q 'site: built dist/index.html' <<<"$out" || fail "second run: the output was not replayed"
cmp packages/site/dist/index.html "$work/index.first.html" || fail "second run: restored index.html differs"

echo 'Hello again' > packages/greeting/src/greeting.txt
step run build -r
grep -q 'greeting:build done in .*cache miss' <<<"$err" || fail "after an edit: greeting was not a miss"
grep -q 'Hello again' packages/site/dist/index.html || fail "after an edit: site was not rebuilt"

echo "quickstart-check: ok ($bin: miss, hit with restored outputs, miss after an edit)"
