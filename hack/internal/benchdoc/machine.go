package benchdoc

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine is what a region says about where and when it was measured.
type Machine struct {
	Date   string // UTC, to the minute
	CPU    string // the model name, "unknown" when /proc/cpuinfo does not say
	Cores  int
	Memory string // total, "unknown" when /proc/meminfo does not say
	Go     string // runtime.Version()
	Commit string // the checkout's commit, marked when it has uncommitted changes (beyond PerformanceDoc)
}

// ReadMachine reads the machine now.
func ReadMachine() Machine {
	m := Machine{Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), CPU: "unknown", Cores: runtime.NumCPU(),
		Memory: "unknown", Go: runtime.Version(), Commit: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				var kb uint64
				if _, err := fmt.Sscan(v, &kb); err == nil {
					m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		// docs/performance.md is what the benchmarks write: a run after another leaves it changed, and
		// that does not change what was measured.
		if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--", ":/", ":(top,exclude)"+PerformanceDoc).Output(); err == nil && len(st) > 0 {
			m.Commit += " (with uncommitted changes)"
		}
	}
	return m
}

// LoadAverage is the 1, 5 and 15 minute load average, "unknown" when /proc/loadavg does not say.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// PerformanceDoc is the file, relative to the repository's root, whose regions the benchmarks write.
const PerformanceDoc = "docs/performance.md"
