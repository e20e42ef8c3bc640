package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Helpers the suites share for driving the cluster with the real kubectl.

// KubectlTimeout bounds one kubectl call.
const KubectlTimeout = 30 * time.Second

// Result is one kubectl run.
type Result struct {
	Args           []string
	Stdout, Stderr string
	Err            error
}

// Code is kubectl's exit status: 0 on success, -1 if it did not run to completion.
func (r Result) Code() int {
	if r.Err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(r.Err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func (r Result) String() string {
	return fmt.Sprintf("kubectl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.Args, " "), r.Code(), r.Stdout, r.Stderr)
}

// Run runs the real kubectl with stdin (may be empty), bounded by KubectlTimeout.
func (c *Cluster) Run(t testing.TB, stdin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), KubectlTimeout)
	defer cancel()
	out, errOut, err := c.Kubectl(ctx, stdin, args...)
	return Result{Args: args, Stdout: out, Stderr: errOut, Err: err}
}

// CleanupRun runs kubectl from a t.Cleanup function, where t.Context() (which Run would use) is
// already canceled, and reports a failure without stopping the other cleanups.
func (c *Cluster) CleanupRun(t testing.TB, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), KubectlTimeout)
	defer cancel()
	if out, errOut, err := c.Kubectl(ctx, "", args...); err != nil {
		t.Errorf("cleanup: kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
}

// MustRun runs kubectl and fails the test unless it succeeds.
func (c *Cluster) MustRun(t testing.TB, stdin string, args ...string) Result {
	t.Helper()
	r := c.Run(t, stdin, args...)
	if r.Err != nil {
		t.Fatalf("unexpected failure: %s", r)
	}
	return r
}

// WaitPolicyReady polls the policy's status until its Ready condition is True for the current
// generation: status.observedGeneration and the condition's observedGeneration equal
// metadata.generation. sealgate puts a policy in force before it writes that status.
func (c *Cluster) WaitPolicyReady(t testing.TB, name string, timeout time.Duration) {
	t.Helper()
	const jp = `jsonpath={.metadata.generation}|{.status.observedGeneration}|` +
		`{.status.conditions[?(@.type=="Ready")].status}|{.status.conditions[?(@.type=="Ready")].observedGeneration}`
	Eventually(t, timeout, "policy "+name+" Ready=True at its generation", func() (bool, string) {
		r := c.Run(t, "", "get", "clusteradmissionpolicy", name, "-o", jp)
		if r.Err != nil {
			return false, r.String()
		}
		f := strings.Split(r.Stdout, "|")
		if len(f) != 4 {
			return false, r.Stdout
		}
		ok := f[0] != "" && f[1] == f[0] && f[3] == f[0] && f[2] == "True"
		return ok, "generation|observedGeneration|Ready|condition observedGeneration = " + r.Stdout
	})
}

// Eventually polls f until it reports true, failing the test with f's last word at the deadline.
func Eventually(t testing.TB, timeout time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	EventuallyContext(t.Context(), t, timeout, what, f)
}

// EventuallyContext is Eventually that stops early when ctx ends rather than when the test does. A
// cleanup function needs it: the test's context is canceled before cleanups run, so Eventually
// there would give up after the first try.
func EventuallyContext(ctx context.Context, t testing.TB, timeout time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stopped (%v) waiting for %s; last: %s", context.Cause(ctx), what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// SumSamples sums the samples of metric name whose labels include every label in match, from the
// Prometheus text format (enough for counters).
func SumSamples(text, name string, match map[string]string) (float64, error) {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		metricName, labels, value, err := parseSample(line)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		if metricName != name {
			continue
		}
		matches := true
		for k, v := range match {
			if labels[k] != v {
				matches = false
				break
			}
		}
		if matches {
			sum += value
		}
	}
	return sum, sc.Err()
}

func parseSample(line string) (string, map[string]string, float64, error) {
	labels := map[string]string{}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return "", nil, 0, errors.New("no value")
	}
	name, rest := line[:i], line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, ", ")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq < 0 {
				return "", nil, 0, errors.New("bad label")
			}
			key := rest[:eq]
			rest = rest[eq+2:]
			var val strings.Builder
			j := 0
			for ; j < len(rest) && rest[j] != '"'; j++ {
				if rest[j] == '\\' && j+1 < len(rest) {
					j++
					switch rest[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(rest[j])
					}
					continue
				}
				val.WriteByte(rest[j])
			}
			if j == len(rest) {
				return "", nil, 0, errors.New("unterminated label value")
			}
			labels[key] = val.String()
			rest = rest[j+1:]
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", nil, 0, errors.New("no value")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	return name, labels, v, err
}
