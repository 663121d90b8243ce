#!/usr/bin/env bash
# Idle memory per session for each transport (ws, wss, rs, rss) on each
# engine: the "Idle sessions by transport" table of BENCHMARKS.md. Builds
# junction, makes a self-signed P-256 certificate for 127.0.0.1 (trusted by
# the load generator through SSL_CERT_FILE), and for each case starts a
# fresh router (`junction serve`, one listener, `engine:` and, for wss://
# and rss://, `tls:`), holds N idle sessions (joined, subscribed) and prints
# the router's RSS growth per session, the median of RUNS runs.
#
#   scripts/idle-transports.sh                       # 5,000 sessions, all cases
#   N=15000 ENGINES=epoll SCHEMES="ws wss" scripts/idle-transports.sh
#
# The RSS is read SETTLE (default 12s) after the dial phase: a TLS router
# drops a quiet connection's ciphers after 2s and gives a connect storm's
# memory back 3s after it ends (transport/memory.go). A process may open at
# most 20,000 files here, so over PER (5,000) sessions the load is split
# over processes of at most PER sessions each, started one after the other,
# each from its own source address (127.0.0.2, .3, ...); then the script
# reads the router's RSS itself (VmRSS) before the first and SETTLE after
# the last has its sessions open. Only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

RUNS=${RUNS:-3}
N=${N:-5000}
ENGINES=${ENGINES:-"epoll goroutine"}
SCHEMES=${SCHEMES:-"ws wss rs rss"}
SETTLE=${SETTLE:-12s}
PORT=${PORT:-22150}
PER=${PER:-5000} # sessions per load generator process
OUT=${OUT:-$(mktemp -d /tmp/junction-idle.XXXXXX)}

go build -o "$OUT/junction" ./cmd/junction
bin="$OUT/junction"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout "$OUT/key.pem" -out "$OUT/cert.pem" -subj /CN=127.0.0.1 \
	-addext "subjectAltName=IP:127.0.0.1" 2>/dev/null

router_pid=""
start_router() { # engine tls(0|1)
	{
		echo "listeners:"
		echo "  - address: 127.0.0.1:$PORT"
		echo "    engine: $1"
		if [ "$2" = 1 ]; then
			echo "    tls: {cert: $OUT/cert.pem, key: $OUT/key.pem}"
		fi
		echo "log:"
		echo "  level: warn"
	} >"$OUT/router.yaml"
	"$bin" serve --config "$OUT/router.yaml" >/dev/null 2>>"$OUT/router.log" &
	router_pid=$!
	wait_port "$PORT" "$OUT/router.log"
}
stop_router() {
	kill -TERM "$router_pid" 2>/dev/null || true
	wait "$router_pid" 2>/dev/null || true
}
trap stop_router EXIT
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# seconds DURATION: a Go duration of ms or s (as -settle takes it) in
# seconds, for sleep.
seconds() {
	case $1 in
	*ms) awk -v v="${1%ms}" 'BEGIN {print v / 1000}' ;;
	*s) echo "${1%s}" ;;
	*) echo "SETTLE: give ms or s, not $1" >&2; exit 1 ;;
	esac
}

# one ENGINE SCHEME RUN: prints the router's RSS growth per session in
# bytes.
one() { # engine scheme run
	local engine=$1 scheme=$2 run=$3 tls=0 path=""
	case $scheme in wss | rss) tls=1 ;; esac
	case $scheme in ws | wss) path=/ws ;; esac
	start_router "$engine" "$tls"
	local url="$scheme://127.0.0.1:$PORT$path" json="$OUT/$engine-$scheme-$N-$run"
	if [ "$N" -le "$PER" ]; then
		SSL_CERT_FILE="$OUT/cert.pem" "$bin" bench idle -url "$url" -serializer msgpack -sessions "$N" \
			-duration 2s -dial-concurrency 128 -settle "$SETTLE" -pid "$router_pid" -json "$json.json" >&2
		python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["router"]["rss_per_session_bytes"]))' "$json.json"
	else
		local procs=$(((N + PER - 1) / PER)) before pids=() i
		before=$(rss_kib "$router_pid")
		for i in $(seq "$procs"); do
			SSL_CERT_FILE="$OUT/cert.pem" "$bin" bench idle -url "$url" -serializer msgpack -sessions $((N / procs)) \
				-duration 10m -dial-concurrency 128 -source-addrs "127.0.0.$((i + 1))" 2>"$json-$i.log" >/dev/null &
			pids+=($!)
			until grep -q "sessions open in" "$json-$i.log"; do
				kill -0 "${pids[-1]}" 2>/dev/null || { cat "$json-$i.log" >&2; exit 1; }
				sleep 0.2
			done
		done
		sleep "$(seconds "$SETTLE")"
		local after
		after=$(rss_kib "$router_pid")
		kill "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
		echo $(((after - before) * 1024 / (N / procs * procs)))
	fi
	stop_router
}

echo "| $N idle sessions, RSS growth per session | ${ENGINES// / | } |"
for scheme in $SCHEMES; do
	row="| \`$scheme://\`"
	for engine in $ENGINES; do
		vals=()
		for run in $(seq "$RUNS"); do
			# In this shell, not in $(...): a failed run's router is
			# then stopped by the EXIT trap, which knows its pid.
			one "$engine" "$scheme" "$run" >"$OUT/value"
			vals+=("$(cat "$OUT/value")")
		done
		med=$(printf '%s\n' "${vals[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
		row+=" | $(awk -v b="$med" 'BEGIN {printf "%.2f", b/1024}') KiB ($(IFS=,; echo "${vals[*]}") B)"
	done
	echo "$row |"
done
echo "reports: $OUT" >&2
