//go:build integration

package integration

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/test/cluster"
)

const (
	kubectlTimeout = 30 * time.Second
	settle         = 20 * time.Second
)

type result = cluster.Result

func kubectl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return env.Run(t, stdin, args...)
}

// cleanupKubectl runs kubectl from a cleanup function (see cluster.CleanupRun).
func cleanupKubectl(t *testing.T, args ...string) {
	t.Helper()
	env.CleanupRun(t, args...)
}

func mustKubectl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return env.MustRun(t, stdin, args...)
}

// namespace creates int-<name> labelled int-test=<name> plus extra.
func namespace(t *testing.T, name string, extra map[string]string) string {
	t.Helper()
	labels := map[string]string{"int-test": name}
	for k, v := range extra {
		labels[k] = v
	}
	ns := "int-" + name
	if err := env.EnsureNamespace(t.Context(), ns, labels); err != nil {
		t.Fatal(err)
	}
	return ns
}

func policyYAML(name, spec string) string {
	return fmt.Sprintf("apiVersion: sealgate.dev/v1alpha1\nkind: ClusterAdmissionPolicy\nmetadata: {name: %s}\nspec: %s\n", name, spec)
}

// applyPolicy applies a policy, deletes it when the test ends and waits until it is in force.
func applyPolicy(t *testing.T, name, spec string) {
	t.Helper()
	mustKubectl(t, policyYAML(name, spec), "apply", "-f", "-")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
		defer cancel()
		_, _, _ = env.Kubectl(ctx, "", "delete", "cap", name, "--ignore-not-found")
	})
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

func pod(ns, name, containerExtra string) string {
	if containerExtra != "" {
		containerExtra = ", " + containerExtra
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec: {containers: [{name: c, image: "busybox:1.37"%s}]}
`, name, ns, containerExtra)
}

const privileged = "securityContext: {privileged: true}"

// metric sums the samples of name whose labels include match (Prometheus text format; label values
// here carry no quotes or commas).
func metric(t *testing.T, name string, match map[string]string) float64 {
	t.Helper()
	text, err := sg.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		labels := line[len(name):sp]
		ok := true
		for k, v := range match {
			if l := k + `="` + v + `"`; !strings.Contains(labels, "{"+l) && !strings.Contains(labels, ","+l) {
				ok = false
			}
		}
		if v, err := strconv.ParseFloat(line[sp+1:], 64); ok && err == nil {
			sum += v
		}
	}
	return sum
}
