"""Start-up cost of the Python client, run by bench/python.sh under a real protocol server.

Baseline: `python3 -c "pass"`. Contender: `python3 -c "import runwire; runwire.get_env('X')"`
(import, connect, handshake, one tracked GetEnv round trip). Both run as fresh processes with
the same environment (RUNWIRE_SOCKET inherited from the test server), alternating in batches
so machine noise hits both alike. Prints means, medians, the added milliseconds and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

BASELINE = "pass"
CONTENDER = "import runwire; runwire.get_env('X')"
CHECK = "import runwire, sys; sys.exit(0 if runwire.get_env('X') == 'bench' else 3)"
GOAL_MS = 5.0
# Inside the contender process: where its added time goes (less noisy than process timing).
BREAKDOWN = (
    "import time; t0 = time.perf_counter(); import runwire; t1 = time.perf_counter(); "
    "runwire.get_env('X'); t2 = time.perf_counter(); runwire.get_env('X'); t3 = time.perf_counter(); "
    "print((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)"
)


def once(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300, help="runs of each command")
    parser.add_argument("--batch", type=int, default=10, help="runs per alternation")
    args = parser.parse_args()
    if not os.environ.get("RUNWIRE_SOCKET"):
        sys.exit("run me through bench/python.sh (under runwire-test-server)")
    # The contender must really reach the runner, not measure a no-op.
    subprocess.run([sys.executable, "-c", CHECK], check=True)
    for code in (BASELINE, CONTENDER):  # warm the page cache
        once(code)

    base: list[float] = []
    cont: list[float] = []
    while len(base) < args.runs:
        for _ in range(args.batch):
            base.append(once(BASELINE))
        for _ in range(args.batch):
            cont.append(once(CONTENDER))

    parts: list[list[float]] = [[], [], []]
    for _ in range(min(args.runs, 100)):
        out = subprocess.run([sys.executable, "-c", BREAKDOWN], check=True, capture_output=True, text=True)
        for part, value in zip(parts, out.stdout.split()):
            part.append(float(value))

    def row(name: str, code: str, xs: list[float]) -> None:
        print(f"{name:<10} mean {statistics.mean(xs):7.2f} ms  median {statistics.median(xs):7.2f} ms  ({code})")

    print(f"{sys.executable}, {len(base)} runs each, batches of {args.batch}")
    row("baseline", BASELINE, base)
    row("contender", CONTENDER, cont)
    added_mean = statistics.mean(cont) - statistics.mean(base)
    added_median = statistics.median(cont) - statistics.median(base)
    print(
        f"added: mean {added_mean:+.2f} ms, median {added_median:+.2f} ms "
        f"(ratio {statistics.median(cont) / statistics.median(base):.3f}); goal <= {GOAL_MS:.0f} ms: "
        + ("met" if added_median <= GOAL_MS else "NOT met")
    )
    imp, first, second = (statistics.median(p) for p in parts)
    print(
        f"inside the contender (medians of {len(parts[0])}): import runwire {imp:.2f} ms, "
        f"first get_env (connect + handshake + query) {first:.2f} ms, next get_env {second:.3f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
