//go:build unix

package websocket

import (
	"syscall"
	"time"
)

// cpuTime is the process's CPU time so far (user and system, all
// threads): the benchmarks report it per operation as cpu-ns/op, which a
// busy machine distorts less than the wall clock of ns/op.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
