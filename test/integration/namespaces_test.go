//go:build integration

package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func objectMeta(k client.ObjectKey) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}
}

// (b) A namespace lookup that fails is never "no match": with sealgate cut off from namespace reads
// (its informer's watch cut and relists refused, its live read refused with 503), a pod in a
// namespace sealgate has not seen is denied by an Enforce policy with a namespaceSelector, with a
// reason that says what failed; a Warn policy admits and warns. Once reads heal, the real labels
// decide.
func TestNamespaceLookupFailure(t *testing.T) {
	const name = "int-nsfail"
	spec := func(mode string) string {
		return fmt.Sprintf("{mode: %s, match: {namespaceSelector: {matchLabels: {tier: critical, int-test: nsfail}}}, containers: {privileged: Forbid}}", mode)
	}
	applyPolicy(t, name, spec("Enforce"))

	proxy.Partition()
	healed := false
	heal := func() {
		if !healed {
			proxy.Heal()
			healed = true
		}
	}
	t.Cleanup(heal)
	refusedBefore := proxy.Refused()
	// Created behind sealgate's back: its informer cannot see it and its live read is refused.
	ns := namespace(t, "nsfail", map[string]string{"tier": "critical"})
	compliant := pod(ns, "ok", "")

	denied := map[string]string{"policy": name, "rule": "match.namespaceSelector", "decision": "denied"}
	before := metric(t, "sealgate_violations_total", denied)
	// A real apply: a dry run leaves no trace in the metrics.
	r := kubectl(t, compliant, "apply", "-f", "-")
	t.Logf("%s", r)
	for _, w := range []string{
		`admission webhook "workloads.sealgate.dev" denied the request`,
		fmt.Sprintf(`metadata.namespace: could not read the labels of namespace %q to evaluate spec.match.namespaceSelector`, ns),
		"namespace reads are partitioned by the integration test",
		"sealgate fails closed",
		"[" + name + "/match.namespaceSelector]",
	} {
		if r.Err == nil || !strings.Contains(r.Stderr, w) {
			t.Errorf("want denied with %q: %s", w, r)
		}
	}
	if proxy.Refused() == refusedBefore {
		t.Errorf("the proxy refused no namespace read: the failure was not provoked")
	}
	if got := metric(t, "sealgate_violations_total", denied); got != before+1 {
		t.Errorf("sealgate_violations_total%v rose by %v, want 1", denied, got-before)
	}

	// Policies still flow (only namespace reads are cut): switch to Warn.
	mustKubectl(t, policyYAML(name, spec("Warn")), "apply", "-f", "-")
	waitPolicyReady(t, name)
	r = kubectl(t, compliant, "apply", "--dry-run=server", "-f", "-")
	if r.Err != nil || !strings.Contains(r.Stderr, "Warning: sealgate: metadata.namespace: could not read the labels of namespace") {
		t.Errorf("want admitted with a warning naming the failed lookup: %s", r)
	}

	mustKubectl(t, policyYAML(name, spec("Enforce")), "apply", "-f", "-")
	waitPolicyReady(t, name)
	heal()
	start := time.Now()
	eventually(t, 20*time.Second, "the namespace readable again", func() (bool, string) {
		r := kubectl(t, compliant, "apply", "--dry-run=server", "-f", "-")
		return r.Err == nil, r.String()
	})
	t.Logf("namespace lookups recovered %s after healing", time.Since(start).Round(time.Millisecond))
	// Now the real labels match the selector and the policy's own rule decides.
	r = kubectl(t, pod(ns, "priv", privileged), "apply", "--dry-run=server", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, "spec.containers[0].securityContext.privileged") || strings.Contains(r.Stderr, "could not read") {
		t.Errorf("want denied for privileged after recovery: %s", r)
	}
}
