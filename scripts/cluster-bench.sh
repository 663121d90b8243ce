#!/usr/bin/env bash
# The cluster figures of BENCHMARKS.md: for each run, a single router and a
# 3-node cluster (embedded NATS, routes on loopback) are started fresh and
# driven with `junction bench`, and the routers' CPU (summed over the
# nodes with -pid P1,P2,P3) is compared in the same run:
#
#   rpc local    callers and callee on one node (the single router; and
#                on node 1 of the cluster: traffic that never crosses NATS)
#   rpc cross    callers on node 1, the callee on node 2 (-callee-url)
#   fanout       1 publisher on node 1, subscribers spread over the nodes,
#                at each rate of FANOUT_RATES (events/s): 200 makes every
#                router pace its writes to the subscribers (over 25,000
#                writes/s per loop), 20 makes none pace
#   idle         sessions joined + subscribed on one node, RSS per session
#
#   scripts/cluster-bench.sh           # about 6 minutes on 2 cores
#   RUNS=1 scripts/cluster-bench.sh
#   JUNCTION=/path/to/junction scripts/cluster-bench.sh   # a build of another commit
#   NODE_GOMAXPROCS=1 scripts/cluster-bench.sh   # each node gets its share of the cores
#
# Three nodes on one machine each assume by default that they have all of
# its cores (GOMAXPROCS = the number of CPUs); NODE_GOMAXPROCS gives each
# cluster node that many instead, as it would have on a machine of its own
# or in a container with a CPU limit. The single router keeps Go's default.
#
# The idle runs start IDLE_SETTLE (5s) after the routers are up: a node
# that has just formed its cluster is still allocating (JetStream's meta
# group, the first table exchanges), which the RSS before/after the
# sessions would otherwise count as theirs.
#
# Only loopback addresses are used. The JSON reports stay in $OUT; the
# medians are printed as a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

RUNS=${RUNS:-3}
SERIALIZER=${SERIALIZER:-msgpack}
IDLE=${IDLE:-5000}
SUBSCRIBERS=${SUBSCRIBERS:-999}
FANOUT_RATES=${FANOUT_RATES:-200 20}
OUT=${OUT:-$(mktemp -d /tmp/junction-cluster-bench.XXXXXX)}
mkdir -p "$OUT"
BASE=${BASE:-18600}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
IDLE_SETTLE=${IDLE_SETTLE:-5}
NODE_GOMAXPROCS=${NODE_GOMAXPROCS:-}

if [ -n "${JUNCTION:-}" ]; then
	bin=$JUNCTION
else
	go build -o "$OUT/junction" ./cmd/junction
	bin="$OUT/junction"
fi

pids=()
stop_all() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap stop_all EXIT

# Info: the cluster's "node joined" lines tell when it has formed.
cat > "$OUT/router.yaml" <<YAML
log:
  level: info
YAML

start_single() {
	"$bin" serve --config "$OUT/router.yaml" --listen "127.0.0.1:$BASE" 2>>"$OUT/router.log" &
	pids=($!)
	wait_port "$BASE" "$OUT/router.log"
}
start_cluster() {
	local routes="127.0.0.1:$((BASE + 11)),127.0.0.1:$((BASE + 12)),127.0.0.1:$((BASE + 13))"
	for i in 1 2 3; do
		env ${NODE_GOMAXPROCS:+GOMAXPROCS=$NODE_GOMAXPROCS} "$bin" serve --config "$OUT/router.yaml" --listen "127.0.0.1:$((BASE + i))" \
			--cluster "127.0.0.1:$((BASE + 10 + i))" --join "$routes" --node "n$i" 2>>"$OUT/router.log" &
		pids+=($!)
	done
	for i in 1 2 3; do wait_port "$((BASE + i))" "$OUT/router.log"; done
	# Every node must have seen the two others before the load starts.
	for _ in $(seq 200); do
		if [ "$(grep -c 'node joined' "$OUT/router.log" || true)" -ge $((joined + 6)) ]; then
			joined=$((joined + 6))
			return
		fi
		sleep 0.05
	done
	echo "the cluster did not form; see $OUT/router.log" >&2
	exit 1
}
joined=0
allpids() { local IFS=,; echo "${pids[*]}"; }

n1="rs://127.0.0.1:$((BASE + 1))"
n2="rs://127.0.0.1:$((BASE + 2))"
n3="rs://127.0.0.1:$((BASE + 3))"
single="rs://127.0.0.1:$BASE"
rpc=(-serializer "$SERIALIZER" -callers 8 -inflight 16 -payload 64 -warmup "$WARMUP" -duration "$DURATION")
fan=(-serializer "$SERIALIZER" -subscribers "$SUBSCRIBERS" -payload 64 -warmup "$WARMUP" -duration "$DURATION")

for run in $(seq "$RUNS"); do
	start_single
	"$bin" bench rpc -url "$single" "${rpc[@]}" -pid "$(allpids)" -json "$OUT/single-rpc-$run.json" >&2
	for rate in $FANOUT_RATES; do
		"$bin" bench fanout -url "$single" "${fan[@]}" -rate "$rate" -pid "$(allpids)" -json "$OUT/single-fanout$rate-$run.json" >&2
	done
	stop_all
	start_single
	sleep "$IDLE_SETTLE"
	"$bin" bench idle -url "$single" -serializer "$SERIALIZER" -sessions "$IDLE" -duration 2s \
		-pid "$(allpids)" -json "$OUT/single-idle-$run.json" >&2
	stop_all

	start_cluster
	"$bin" bench rpc -url "$n1" "${rpc[@]}" -pid "$(allpids)" -json "$OUT/cluster-rpc-local-$run.json" >&2
	"$bin" bench rpc -url "$n1" -callee-url "$n2" "${rpc[@]}" -pid "$(allpids)" -json "$OUT/cluster-rpc-cross-$run.json" >&2
	for rate in $FANOUT_RATES; do
		"$bin" bench fanout -url "$n1,$n2,$n3" "${fan[@]}" -rate "$rate" -pid "$(allpids)" -json "$OUT/cluster-fanout$rate-$run.json" >&2
	done
	stop_all
	start_cluster
	sleep "$IDLE_SETTLE"
	# Idle sessions on node 1 only; the RSS of node 1 alone.
	"$bin" bench idle -url "$n1" -serializer "$SERIALIZER" -sessions "$IDLE" -duration 2s \
		-pid "${pids[0]}" -json "$OUT/cluster-idle-$run.json" >&2
	stop_all
done

single_procs=${GOMAXPROCS:-"$(nproc) (the default)"}
echo "GOMAXPROCS: single router $single_procs, each cluster node ${NODE_GOMAXPROCS:-$single_procs}" >&2
python3 - "$OUT" "$RUNS" "$SUBSCRIBERS" "$IDLE" "$FANOUT_RATES" <<'PY'
import json, statistics, sys
out, runs, subs, idle, rates = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5].split()
def vals(name, key):
    got = []
    for r in range(1, runs + 1):
        router = json.load(open(f"{out}/{name}-{r}.json"))["router"]
        if key not in router:
            # junction bench leaves out a CPU figure of 0: less than
            # /proc's 10 ms tick over the whole run.
            sys.exit(f"{name}-{r}: no {key} in the report (the routers' CPU was under /proc's 10 ms resolution): run longer (DURATION) or with more load")
        got.append(router[key])
    return got
rows = [("rpc, 8 callers x 16 in flight: router CPU per call (all nodes)", "us", "single-rpc", "cluster-rpc-local", "cluster-rpc-cross", "cpu_per_call_us")]
for rate in rates:
    rows.append((f"fan-out, 1 publisher x {subs} subscribers, {rate} events/s: CPU per delivered event", "us", f"single-fanout{rate}", None, f"cluster-fanout{rate}", "cpu_per_event_us"))
rows.append((f"idle: {idle} sessions joined + subscribed, RSS per session (the node holding them)", "B", "single-idle", None, "cluster-idle", "rss_per_session_bytes"))
# Each run compares a single router and a cluster started one after the
# other: the last column is the median (and range) of each run's own
# ratio or difference, which the machine's drift between runs moves less
# than a ratio of medians.
print("| scenario | single router | cluster, same node | cluster, across nodes | across / single (range) |")
print("|---|---|---|---|---|")
for title, unit, s, l, c, key in rows:
    sv, cv = vals(s, key), vals(c, key)
    lv = f"{statistics.median(vals(l, key)):.2f} {unit}" if l else "-"
    if unit == "B":
        d = [b - a for a, b in zip(sv, cv)]
        cmp = f"{statistics.median(d):+.0f} B ({min(d):+.0f} to {max(d):+.0f})"
    else:
        d = [b / a for a, b in zip(sv, cv)]
        cmp = f"{statistics.median(d):.2f}x ({min(d):.2f}-{max(d):.2f})"
    print(f"| {title} | {statistics.median(sv):.2f} {unit} | {lv} | {statistics.median(cv):.2f} {unit} | {cmp} |")
PY
echo "reports: $OUT" >&2
