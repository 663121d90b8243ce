#!/usr/bin/env bash
# Regenerates the results table of BENCHMARKS.md: builds junction, then for
# each connection engine starts a fresh router per run and drives it with
# `junction bench` (idle at 5k/10k/15k sessions, rpc 8x16, fanout 1x1000),
# RUNS times each, and prints the medians as a Markdown table.
#
#   scripts/benchmarks.sh            # about 10 minutes on 2 cores
#   RUNS=1 ENGINES=epoll scripts/benchmarks.sh
#
# Only loopback addresses are used. The JSON reports stay in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

RUNS=${RUNS:-3}
ENGINES=${ENGINES:-"epoll goroutine"}
IDLE_SIZES=${IDLE_SIZES:-"5000 10000 15000"}
SERIALIZER=${SERIALIZER:-msgpack}
OUT=${OUT:-$(mktemp -d /tmp/junction-bench.XXXXXX)}
PORT=${PORT:-18555}

go build -o "$OUT/junction" ./cmd/junction
bin="$OUT/junction"

router_pid=""
start_router() { # engine
	cat > "$OUT/router-$1.yaml" <<YAML
listeners:
  - address: 127.0.0.1:$PORT
    engine: $1
log:
  level: warn
YAML
	"$bin" serve --config "$OUT/router-$1.yaml" 2>>"$OUT/router.log" &
	router_pid=$!
	wait_port "$PORT" "$OUT/router.log"
}
stop_router() {
	kill -TERM "$router_pid" 2>/dev/null || true
	wait "$router_pid" 2>/dev/null || true
}
trap stop_router EXIT

url="rs://127.0.0.1:$PORT"
for engine in $ENGINES; do
	for run in $(seq "$RUNS"); do
		for n in $IDLE_SIZES; do
			start_router "$engine"
			"$bin" bench idle -url "$url" -serializer "$SERIALIZER" -sessions "$n" -duration 2s \
				-dial-concurrency 128 -pid "$router_pid" -json "$OUT/$engine-idle-$n-$run.json" >&2
			stop_router
		done
		start_router "$engine"
		"$bin" bench rpc -url "$url" -serializer "$SERIALIZER" -callers 8 -inflight 16 -payload 64 \
			-warmup 2s -duration 10s -pid "$router_pid" -json "$OUT/$engine-rpc-$run.json" >&2
		stop_router
		start_router "$engine"
		"$bin" bench fanout -url "$url" -serializer "$SERIALIZER" -subscribers 1000 -payload 64 \
			-rate 200 -warmup 2s -duration 10s -pid "$router_pid" -json "$OUT/$engine-fanout-$run.json" >&2
		stop_router
	done
done

python3 scripts/benchtable.py "$OUT" "$ENGINES" "$IDLE_SIZES"
echo "reports: $OUT" >&2
