package server

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimitShare is the part of the container's memory limit given to the Go runtime as its soft
// limit: the rest covers what the runtime does not count (stacks of cgo, the binary, page cache).
const memoryLimitShare = 0.9

// limitedGCPercent is the garbage collector's GOGC once a memory limit is in force. An admission
// allocates some 20-70 KB and keeps none of it, and the live heap of a policy-file server is a few MB,
// so at the default 100 the collector ran every hundred or so requests and took about a fifth of the
// CPU under load. The soft limit, not GOGC, is then what keeps the heap inside the container.
const limitedGCPercent = 400

// SetMemoryLimit gives the Go runtime a soft memory limit of 90% of the cgroup's, so that the
// garbage collector works harder before the kernel's OOM killer acts. It does nothing when GOMEMLIMIT
// is set (the operator chose) or when the cgroup has no limit, and returns the limit it set (0 if
// none) and the cgroup's. With a limit in force (its own or GOMEMLIMIT) and GOGC not set, it sets
// GOGC to limitedGCPercent: fewer collections, the heap bounded by the limit.
func SetMemoryLimit() (set, cgroup int64) {
	if os.Getenv("GOMEMLIMIT") != "" {
		raiseGCPercent()
		return 0, 0
	}
	limit, ok := cgroupMemoryLimit("/sys/fs/cgroup")
	if !ok {
		return 0, 0
	}
	set = int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(set)
	raiseGCPercent()
	return set, limit
}

// raiseGCPercent sets GOGC to limitedGCPercent unless the operator set GOGC.
func raiseGCPercent() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(limitedGCPercent)
	}
}

// cgroupMemoryLimit reads the memory limit of the cgroup mounted at root: memory.max (cgroup v2),
// else memory/memory.limit_in_bytes (v1). "max", or v1's near-2^63 "unlimited", is no limit.
func cgroupMemoryLimit(root string) (int64, bool) {
	for _, f := range []string{"memory.max", filepath.Join("memory", "memory.limit_in_bytes")} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}
