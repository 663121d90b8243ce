"""Prints the BENCHMARKS.md results table from scripts/benchmarks.sh's
JSON reports: the median of the runs for each engine and scenario."""
import glob
import json
import statistics
import sys

out, engines, sizes = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()


def reports(pattern):
    return [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{pattern}"))]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


rows = []
for n in sizes:
    cells = []
    for e in engines:
        rs = reports(f"{e}-idle-{n}-*.json")
        per = median([r.get("router", {}).get("rss_per_session_bytes") for r in rs])
        ok = all(r.get("sessions_held") == int(n) and r.get("lost", 0) == 0 for r in rs)
        cells.append(f"{fmt(per, ',.0f')} B/session" + ("" if ok else " (losses!)"))
    rows.append((f"idle: {int(n):,} sessions joined + subscribed, RSS growth", cells))

cells = []
for e in engines:
    rs = reports(f"{e}-rpc-*.json")
    cpu = median([r.get("router", {}).get("cpu_per_call_us") for r in rs])
    cps = median([r.get("calls_per_second") for r in rs])
    p99 = median([r.get("latency_us", {}).get("p99") for r in rs])
    errs = sum(r.get("errors", 0) for r in rs)
    cells.append(f"{fmt(cpu, '.1f')} us CPU/call, {fmt(cps, ',.0f')} calls/s, p99 {fmt(p99, ',.0f')} us, {errs} errors")
rows.append(("rpc: 8 callers x 16 in flight, 64 B", cells))

cells = []
for e in engines:
    rs = reports(f"{e}-fanout-*.json")
    cpu = median([r.get("router", {}).get("cpu_per_event_us") for r in rs])
    p99 = median([r.get("latency_us", {}).get("p99") for r in rs])
    lost = sum(r.get("lost", 0) for r in rs)
    delivered = sum(r.get("delivered", 0) for r in rs)
    cells.append(f"{fmt(cpu, '.2f')} us CPU/event, p99 {fmt(p99, ',.0f')} us, {delivered:,} delivered, {lost} lost")
rows.append(("fanout: 1 publisher x 1,000 subscribers, 64 B, 200 events/s", cells))

print("| scenario | " + " | ".join(engines) + " |")
print("|---|" + "---|" * len(engines))
for name, cells in rows:
    print(f"| {name} | " + " | ".join(cells) + " |")
