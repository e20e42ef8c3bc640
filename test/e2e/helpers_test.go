package e2e

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

// Deadlines. Every wait in the suite has one.
const (
	kubectlTimeout = 30 * time.Second // one kubectl call
	settle         = 20 * time.Second // a policy or namespace change reaching sealgate
)

// result is one kubectl run.
type result struct {
	args           []string
	stdout, stderr string
	err            error
}

// code is kubectl's exit status: 0 on success, -1 if it did not run to completion.
func (r result) code() int {
	if r.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(r.err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func (r result) String() string {
	return fmt.Sprintf("kubectl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.code(), r.stdout, r.stderr)
}

// kubectl runs the real kubectl with stdin (may be empty).
func kubectl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), kubectlTimeout)
	defer cancel()
	out, errOut, err := env.Kubectl(ctx, stdin, args...)
	return result{args: args, stdout: out, stderr: errOut, err: err}
}

// mustKubectl runs kubectl and fails the test unless it succeeds.
func mustKubectl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := kubectl(t, stdin, args...)
	if r.err != nil {
		t.Fatalf("unexpected failure: %s", r)
	}
	return r
}

// wantDenied asserts that kubectl failed with a denial from sealgate's workload webhook that names
// every path in paths.
func wantDenied(t *testing.T, r result, paths ...string) {
	t.Helper()
	if r.code() < 1 {
		t.Fatalf("want a denial and a non-zero exit status, got: %s", r)
	}
	want := append([]string{`admission webhook "workloads.sealgate.dev" denied the request`}, paths...)
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("kubectl stderr lacks %q: %s", w, r)
		}
	}
}

// wantAdmitted asserts that kubectl succeeded and printed no sealgate warning.
func wantAdmitted(t *testing.T, r result) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("want admitted, got: %s", r)
	}
	if strings.Contains(r.stderr, "Warning: sealgate:") {
		t.Errorf("want no sealgate warning, got: %s", r)
	}
}

// namespace creates the test's namespace e2e-<name>, labelled e2e-test=<name> plus extra labels,
// and returns its name. Namespaces are not deleted: envtest has no namespace controller to finish it.
func namespace(t *testing.T, name string, extra map[string]string) string {
	t.Helper()
	labels := map[string]string{"e2e-test": name}
	for k, v := range extra {
		labels[k] = v
	}
	ns := "e2e-" + name
	if err := env.EnsureNamespace(t.Context(), ns, labels); err != nil {
		t.Fatal(err)
	}
	return ns
}

// scoped is a match clause that limits a policy to the namespace of test name.
func scoped(name string) string {
	return fmt.Sprintf("{namespaceSelector: {matchLabels: {e2e-test: %s}}}", name)
}

// policyYAML renders a ClusterAdmissionPolicy; spec is a YAML flow mapping.
func policyYAML(name, spec string) string {
	return fmt.Sprintf("apiVersion: sealgate.dev/v1alpha1\nkind: ClusterAdmissionPolicy\nmetadata: {name: %s}\nspec: %s\n", name, spec)
}

// cleanupKubectl runs kubectl from a t.Cleanup function, where t.Context() is already canceled.
func cleanupKubectl(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	if out, errOut, err := env.Kubectl(ctx, "", args...); err != nil {
		t.Errorf("cleanup: kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
}

// applyPolicy applies a policy with kubectl, deletes it when the test ends, and waits until it is in
// force.
func applyPolicy(t *testing.T, name, spec string) {
	t.Helper()
	mustKubectl(t, policyYAML(name, spec), "apply", "-f", "-")
	t.Cleanup(func() { cleanupKubectl(t, "delete", "clusteradmissionpolicy", name, "--ignore-not-found") })
	waitPolicyReady(t, name)
}

// waitPolicyReady polls the policy's status until its Ready condition is True for the current
// generation: status.observedGeneration and the condition's observedGeneration equal
// metadata.generation. sealgate puts a policy in force before it writes that status.
func waitPolicyReady(t *testing.T, name string) {
	t.Helper()
	const jp = `jsonpath={.metadata.generation}|{.status.observedGeneration}|` +
		`{.status.conditions[?(@.type=="Ready")].status}|{.status.conditions[?(@.type=="Ready")].observedGeneration}`
	eventually(t, settle, "policy "+name+" Ready=True at its generation", func() (bool, string) {
		r := kubectl(t, "", "get", "clusteradmissionpolicy", name, "-o", jp)
		if r.err != nil {
			return false, r.String()
		}
		f := strings.Split(r.stdout, "|")
		if len(f) != 4 {
			return false, r.stdout
		}
		ok := f[0] != "" && f[1] == f[0] && f[3] == f[0] && f[2] == "True"
		return ok, "generation|observedGeneration|Ready|condition observedGeneration = " + r.stdout
	})
}

// eventually polls f until it reports true, failing the test with f's last word at the deadline.
func eventually(t *testing.T, timeout time.Duration, what string, f func() (bool, string)) {
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
		case <-t.Context().Done():
			t.Fatalf("test ended waiting for %s; last: %s", what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// metric sums the samples of a metric whose labels include every label in match, from sealgate's
// /metrics.
func metric(t *testing.T, name string, match map[string]string) float64 {
	t.Helper()
	text, err := sg.Metrics()
	if err != nil {
		t.Fatalf("reading sealgate's metrics: %v", err)
	}
	sum, err := sumSamples(text, name, match)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// sumSamples parses the Prometheus text format, enough for counters.
func sumSamples(text, name string, match map[string]string) (float64, error) {
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
