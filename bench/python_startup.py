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


def once(code: str) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run, in ms. CPU time is the steadier of
    the two on a busy machine: waiting for a core does not count."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code])
    _, status, usage = os.wait4(child.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"`{code}` exited with {child.returncode}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


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

    base: list[tuple[float, float]] = []
    cont: list[tuple[float, float]] = []
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

    def row(name: str, code: str, runs: list[tuple[float, float]]) -> None:
        wall = [w for w, _ in runs]
        cpu = [c for _, c in runs]
        print(
            f"{name:<10} wall mean {statistics.mean(wall):7.2f} ms, median {statistics.median(wall):7.2f} ms; "
            f"p10 {p10(wall):7.2f} ms; cpu median {statistics.median(cpu):6.2f} ms  ({code})"
        )

    def p10(xs: list[float]) -> float:
        # The 10th percentile: load on the machine only ever adds time, so the low end of the
        # distribution is the steadiest estimate of the intrinsic cost.
        return statistics.quantiles(xs, n=10)[0]

    def median(runs: list[tuple[float, float]], i: int) -> float:
        return statistics.median(run[i] for run in runs)

    def mean(runs: list[tuple[float, float]], i: int) -> float:
        return statistics.mean(run[i] for run in runs)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{sys.executable}, {len(base)} runs each, batches of {args.batch}; load average {load} on {os.cpu_count()} cores")
    row("baseline", BASELINE, base)
    row("contender", CONTENDER, cont)
    added_wall = median(cont, 0) - median(base, 0)
    print(
        f"added: wall mean {mean(cont, 0) - mean(base, 0):+.2f} ms, wall median {added_wall:+.2f} ms "
        f"(ratio {median(cont, 0) / median(base, 0):.3f}), wall p10 "
        f"{p10([w for w, _ in cont]) - p10([w for w, _ in base]):+.2f} ms, cpu median {median(cont, 1) - median(base, 1):+.2f} ms "
        f"(ratio {median(cont, 1) / median(base, 1):.3f}); goal <= {GOAL_MS:.0f} ms wall: "
        + ("met" if added_wall <= GOAL_MS else "NOT met")
    )
    imp, first, second = (statistics.median(p) for p in parts)
    print(
        f"inside the contender (medians of {len(parts[0])}): import runwire {imp:.2f} ms, "
        f"first get_env (connect + handshake + query) {first:.2f} ms, next get_env {second:.3f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
