//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/test/cluster"
)

// Deadlines. Every wait in the suite has one.
const (
	kubectlTimeout = 30 * time.Second // one kubectl call
	settle         = 20 * time.Second // a policy or namespace change reaching sealgate
)

// result is one kubectl run.
type result = cluster.Result

// kubectl runs the real kubectl with stdin (may be empty).
func kubectl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return env.Run(t, stdin, args...)
}

// mustKubectl runs kubectl and fails the test unless it succeeds.
func mustKubectl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return env.MustRun(t, stdin, args...)
}

// wantDenied asserts that kubectl failed with a denial from sealgate's workload webhook that names
// every path in paths.
func wantDenied(t *testing.T, r result, paths ...string) {
	t.Helper()
	if r.Code() < 1 {
		t.Fatalf("want a denial and a non-zero exit status, got: %s", r)
	}
	want := append([]string{`admission webhook "workloads.sealgate.dev" denied the request`}, paths...)
	for _, w := range want {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("kubectl stderr lacks %q: %s", w, r)
		}
	}
}

// wantAdmitted asserts that kubectl succeeded and printed no sealgate warning.
func wantAdmitted(t *testing.T, r result) {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("want admitted, got: %s", r)
	}
	if strings.Contains(r.Stderr, "Warning: sealgate:") {
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

// cleanupKubectl runs kubectl from a t.Cleanup function (see cluster.CleanupRun).
func cleanupKubectl(t *testing.T, args ...string) {
	t.Helper()
	env.CleanupRun(t, args...)
}

// applyPolicy applies a policy with kubectl, deletes it when the test ends, and waits until it is in
// force.
func applyPolicy(t *testing.T, name, spec string) {
	t.Helper()
	mustKubectl(t, policyYAML(name, spec), "apply", "-f", "-")
	t.Cleanup(func() { cleanupKubectl(t, "delete", "clusteradmissionpolicy", name, "--ignore-not-found") })
	waitPolicyReady(t, name)
}

func waitPolicyReady(t *testing.T, name string) {
	t.Helper()
	env.WaitPolicyReady(t, name, settle)
}

func eventually(t *testing.T, timeout time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	cluster.Eventually(t, timeout, what, f)
}

// metric sums the samples of a metric whose labels include every label in match, from sealgate's
// /metrics.
func metric(t *testing.T, name string, match map[string]string) float64 {
	t.Helper()
	text, err := sg.Metrics()
	if err != nil {
		t.Fatalf("reading sealgate's metrics: %v", err)
	}
	sum, err := cluster.SumSamples(text, name, match)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}
