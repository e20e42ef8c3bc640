package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sealgate/sealgate/test/cluster"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; 100 on every Linux
// architecture Go supports.
const clockTick = 100

// cpuTime reads the CPU time a process has used, user and system, from /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStat(string(b))
}

// parseStat reads utime+stime (fields 14 and 15) from the text of /proc/<pid>/stat. The command
// name (field 2) is in parentheses and may itself hold spaces and parentheses, so fields are counted
// from the last ')'.
func parseStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat: no ')' after the command name")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks uint64
	for _, v := range f[11:13] { // fields 14 (utime) and 15 (stime)
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: utime or stime: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTick, nil
}

// readMemory and resetPeak are the harness's: VmRSS and VmHWM from /proc/<pid>/status, and
// clear_refs to start a new peak.
var (
	readMemory = cluster.ReadMemory
	resetPeak  = cluster.ResetPeak
)

// apiServerPID finds the kube-apiserver that listens on port, by its command line (envtest passes
// --secure-port=<port>); 0 if there is none.
func apiServerPID(port string) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(b) > 1<<20 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) == 0 || !strings.HasSuffix(args[0], "kube-apiserver") {
			continue
		}
		for _, a := range args[1:] {
			if a == "--secure-port="+port {
				return pid
			}
		}
	}
	return 0
}
