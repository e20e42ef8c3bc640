package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
)

// TestMain lets the test binary act as runMeasured's wrapper, as the benchmark's binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == wrapArg {
		os.Exit(wrapChild(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// TestRunMeasuredReportsTheCommandsOwnPeak holds 256 MiB in this process and runs a small shell:
// started directly, its ru_maxrss includes this process's memory; through runMeasured, it does not.
func TestRunMeasuredReportsTheCommandsOwnPeak(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	held := make([]byte, 256<<20)
	for i := 0; i < len(held); i += 4096 {
		held[i] = 1
	}
	const big = 200 << 20

	direct := exec.Command(sh, "-c", "exit 0")
	if err := direct.Run(); err != nil {
		t.Fatal(err)
	}
	got := direct.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	t.Logf("sh started directly: ru_maxrss %d MiB", got>>20)
	if got < big {
		t.Logf("this kernel does not pass the parent's peak to a child (%d bytes); the wrapper is not needed here", got)
	}

	m, err := runMeasured(context.Background(), sh, "-c", "echo out; echo err >&2; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	if m.MaxRSS <= 0 || m.MaxRSS >= big {
		t.Errorf("peak RSS %d bytes, want the shell's own (a few MiB), not this process's", m.MaxRSS)
	}
	if m.Exit != 3 || string(m.Stdout) != "out\n" || string(m.Stderr) != "err\n" || m.Wall <= 0 {
		t.Errorf("exit %d, stdout %q, stderr %q, wall %s; want 3, out, err and a time", m.Exit, m.Stdout, m.Stderr, m.Wall)
	}
	runtime.KeepAlive(held)
}
