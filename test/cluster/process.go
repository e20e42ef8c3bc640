package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Pid is the sealgate process's id.
func (s *Sealgate) Pid() int { return s.Cmd.Process.Pid }

// Signal sends sig to sealgate: syscall.SIGTERM, as the kubelet does when a pod is deleted, or
// syscall.SIGKILL.
func (s *Sealgate) Signal(sig os.Signal) error { return s.Cmd.Process.Signal(sig) }

// Alive reports whether the process still runs.
func (s *Sealgate) Alive() bool {
	select {
	case err := <-s.done:
		s.done <- err // keep the result for Stop and WaitExit
		return false
	default:
		return true
	}
}

// WaitExit waits up to timeout for sealgate to exit and returns how it exited; ok is false if it
// still runs. The result stays available to Stop and later calls.
func (s *Sealgate) WaitExit(timeout time.Duration) (exitErr error, ok bool) {
	select {
	case err := <-s.done:
		s.done <- err
		return err, true
	case <-time.After(timeout):
		return nil, false
	}
}

// Memory is a process's resident set size now (VmRSS) and its peak (VmHWM), in bytes.
type Memory struct {
	RSS, Peak uint64
}

// MiB formats a byte count in mebibytes.
func MiB(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// ReadMemory reads /proc/<pid>/status.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			return Memory{}, fmt.Errorf("%s: unexpected %q", k, v)
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("%s: %w", k, err)
		}
		if k == "VmRSS" {
			m.RSS = n << 10
		} else {
			m.Peak = n << 10
		}
	}
	if m.RSS == 0 || m.Peak == 0 {
		return Memory{}, fmt.Errorf("no VmRSS or VmHWM in /proc/%d/status", pid)
	}
	return m, nil
}

// ResetPeak sets the process's VmHWM back to its current RSS (Linux's clear_refs "5"), so that a
// later ReadMemory's Peak is the peak since this call rather than since the process started.
func ResetPeak(pid int) error {
	f, err := os.OpenFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString("5")
	return errors.Join(err, f.Close())
}
