package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// wrapArg makes this program run as the wrapper of one command (see runMeasured) instead of as the
// benchmark.
const wrapArg = "__measure-child"

// measured is what runMeasured reports of a command.
type measured struct {
	Wall   time.Duration
	MaxRSS int64 // bytes
	Exit   int
	Stdout []byte
	Stderr []byte
}

// runMeasured runs a command and returns its wall time and peak RSS. The peak comes from the
// rusage of a grandchild: Linux gives a child's ru_maxrss at least the RSS its parent had when it
// forked (the exec replaces a copy of the parent's memory, and the kernel keeps that copy's high
// water mark), so a command started straight from this process, which holds thousands of objects,
// would report this process's peak, not its own. A copy of this program, small when it starts,
// forks the command and reports on file descriptor 3.
func runMeasured(ctx context.Context, name string, args ...string) (measured, error) {
	self, err := os.Executable()
	if err != nil {
		return measured{}, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return measured{}, err
	}
	defer pr.Close()
	cmd := exec.CommandContext(ctx, self, append([]string{wrapArg, name}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.ExtraFiles = []*os.File{pw}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return measured{}, err
	}
	pw.Close()
	report, readErr := io.ReadAll(pr)
	waitErr := cmd.Wait()
	m := measured{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		return m, waitErr
	}
	var wallNs int64
	var maxKiB int64
	if _, err := fmt.Sscanf(string(report), "%d %d %d", &wallNs, &maxKiB, &m.Exit); err != nil {
		return m, fmt.Errorf("running %s: no measurement (%v, %v): %w\n%s", name, readErr, waitErr, err, stderr.String())
	}
	m.Wall, m.MaxRSS = time.Duration(wallNs), maxKiB<<10 // ru_maxrss is in KiB on Linux
	return m, nil
}

// wrapChild is the wrapper's side: run args with this process's stdio, write "wall-ns maxrss-KiB
// exit" on file descriptor 3, and exit as the command did.
func wrapChild(args []string) int {
	report := os.NewFile(3, "report")
	if len(args) == 0 || report == nil {
		fmt.Fprintln(os.Stderr, "benchaudit: the wrapper needs a command and file descriptor 3")
		return 2
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The command dies with the wrapper, which dies with the benchmark (CommandContext).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "benchaudit:", err)
		return 2
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "benchaudit: no rusage on this platform")
		return 2
	}
	code := cmd.ProcessState.ExitCode()
	fmt.Fprintf(report, "%d %d %d\n", wall.Nanoseconds(), ru.Maxrss, code)
	return code
}
