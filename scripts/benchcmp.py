#!/usr/bin/env python3
"""Compares the hot-path micro-benchmarks of a git revision with the work tree.

usage: scripts/benchcmp.py BASE_REV [ROUNDS]

Builds the router and transport test binaries of BASE_REV (git archive into
a temporary directory) and of the work tree, then runs each benchmark of
BENCHES with a fixed number of iterations, base and new in turn, ROUNDS
times (default 8). The figure is CPU time per op: the user and system time
of the benchmark process (getrusage) divided by N. On a machine shared with
other work, wall time per op of the same binary varies by tens of percent
from run to run; the CPU time of a benchmark that runs on one goroutine
does not count the time it waits for a core. (For the transport ones,
which run several goroutines, it counts all of them, the client included.)

Writes bench-base.txt and bench-new.txt in benchstat's format to the
current directory and, when benchstat is on PATH or in ~/go/bin, prints
its comparison.
"""
import os
import resource
import shutil
import subprocess
import sys
import tempfile

BENCHES = [
    ("router", "BenchmarkCall", "json", 2_000_000),
    ("router", "BenchmarkCall", "msgpack", 2_000_000),
    ("router", "BenchmarkCall", "cbor", 2_000_000),
    ("router", "BenchmarkPublish", "one-serializer", 20_000_000),
    ("router", "BenchmarkPublish", "three-serializers", 20_000_000),
    ("transport", "BenchmarkSend", "goroutine", 5_000_000),
    ("transport", "BenchmarkSend", "epoll", 5_000_000),
    ("transport", "BenchmarkReceive", "goroutine", 300_000),
    ("transport", "BenchmarkReceive", "epoll", 300_000),
]


def build(src, out):
    for pkg in sorted({b[0] for b in BENCHES}):
        subprocess.run(["go", "test", "-c", "-o", os.path.join(out, pkg + ".test"), "./" + pkg + "/"], cwd=src, check=True)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    base, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 8
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        os.mkdir(src)
        archive = subprocess.run(["git", "archive", base], cwd=root, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
        bins = {"base": os.path.join(tmp, "base"), "new": os.path.join(tmp, "new")}
        for d in bins.values():
            os.mkdir(d)
        build(src, bins["base"])
        build(root, bins["new"])
        out = {k: open("bench-" + k + ".txt", "w") for k in bins}
        for r in range(rounds):
            for pkg, bench, sub, n in BENCHES:
                for which in ("base", "new"):
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    p = subprocess.run([os.path.join(bins[which], pkg + ".test"), "-test.run", "^$",
                                        "-test.bench", "^" + bench + "$/^" + sub + "$", "-test.benchtime", str(n) + "x",
                                        "-test.benchmem"], capture_output=True, text=True, check=True)
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                    f = [line for line in p.stdout.splitlines() if line.startswith("Benchmark")][-1].split()
                    out[which].write(f"{f[0]} {n} {cpu * 1e9 / n:.2f} ns/op {f[4]} B/op {f[6]} allocs/op\n")
                    out[which].flush()
            print(f"round {r + 1} of {rounds}", file=sys.stderr)
        for f in out.values():
            f.close()
    benchstat = shutil.which("benchstat") or os.path.expanduser("~/go/bin/benchstat")
    if os.path.exists(benchstat):
        subprocess.run([benchstat, "bench-base.txt", "bench-new.txt"])


if __name__ == "__main__":
    main()
