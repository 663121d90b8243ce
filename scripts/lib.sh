# Shared by the benchmark scripts (sourced, not run): what each of them
# needs to start routers and wait for them.

# wait_port PORT LOG: waits up to 5 s for something to listen on
# 127.0.0.1:PORT; if nothing does, says where the router's log is and
# exits.
wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return; fi
		sleep 0.05
	done
	echo "nothing listens on 127.0.0.1:$1; see $2" >&2
	exit 1
}
