//go:build unix

package engine_test

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process has used, user and system, so
// that benchmarks can report throughput per CPU-second, which other jobs
// on a shared machine disturb far less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
