#!/usr/bin/env bash
# The binary as it ships (scripts/build-release.sh): on Linux with glibc it is statically
# linked (no program interpreter, no shared library to load), and it passes the README
# quick start (tasks traced, the Node addon embedded, hits restored byte for byte).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(bash scripts/build-release.sh)
case $(rustc -vV | sed -n 's/^host: //p') in
  *-linux-gnu)
    if readelf -lW "$bin" | grep -q 'program interpreter' || readelf -dW "$bin" | grep -q '(NEEDED)'; then
      echo "check-release-binary: $bin is not statically linked:" >&2
      readelf -dW "$bin" | grep '(NEEDED)' >&2 || true
      exit 1
    fi
    ;;
esac
"$bin" --version
bash scripts/quickstart-check.sh "$bin"
