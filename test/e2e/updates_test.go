//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// 6. Ephemeral containers go through the pods/ephemeralcontainers subresource, as `kubectl debug`
// sends them: a privileged one and one from a disallowed registry are denied, a compliant one is
// admitted.
func TestEphemeralContainers(t *testing.T) {
	ns := namespace(t, "ephemeral", nil)
	applyPolicy(t, "e2e-ephemeral", fmt.Sprintf(`{match: %s, containers: {privileged: Forbid}, images: {allowedRegistries: ["docker.io/library/*"]}}`, scoped("ephemeral")))
	wantAdmitted(t, kubectl(t, pod(ns, "target", "busybox:1.37", "", ""), "apply", "-f", "-"))

	// The sysadmin profile makes the debug container privileged.
	r := kubectl(t, "", "debug", "-n", ns, "pod/target", "--image=busybox:1.37", "--profile=sysadmin", "--container=dbg1")
	t.Logf("%s", r)
	wantDenied(t, r, `Pod "target" in namespace "e2e-ephemeral" was denied`,
		"spec.ephemeralContainers[0].securityContext.privileged", `container "dbg1"`)

	wantDenied(t, kubectl(t, "", "debug", "-n", ns, "pod/target", "--image=evil.example.com/tools:1.0", "--profile=general", "--container=dbg2"),
		"spec.ephemeralContainers[0].image", `"evil.example.com/tools"`)

	wantAdmitted(t, kubectl(t, "", "debug", "-n", ns, "pod/target", "--image=busybox:1.37", "--profile=general", "--container=dbg3"))
	r = mustKubectl(t, "", "get", "pod", "target", "-n", ns, "-o", "jsonpath={.spec.ephemeralContainers[*].name}")
	if r.Stdout != "dbg3" {
		t.Errorf("ephemeral containers = %q, want only the admitted dbg3", r.Stdout)
	}
}

// 7. UPDATE: changing a pod's image is checked; an object that predates the policy is not wedged by
// label changes or scaling, but changing its pod template is checked.
func TestUpdates(t *testing.T) {
	ns := namespace(t, "updates", nil)
	// Violates the policy below; created before the policy exists.
	mustKubectl(t, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: legacy, namespace: %s}
spec:
  replicas: 1
  selector: {matchLabels: {app: legacy}}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers: [{name: c, image: "busybox:1.37", %s}]
`, ns, privileged), "apply", "-f", "-")
	applyPolicy(t, "e2e-updates", fmt.Sprintf(`{match: %s, containers: {privileged: Forbid}, images: {allowedRegistries: ["docker.io/library/*"]}}`, scoped("updates")))

	t.Run("PodImage", func(t *testing.T) {
		wantAdmitted(t, kubectl(t, pod(ns, "app", "busybox:1.37", "", ""), "apply", "-f", "-"))
		wantAdmitted(t, kubectl(t, "", "set", "image", "-n", ns, "pod/app", "c=busybox:1.36"))
		wantDenied(t, kubectl(t, "", "set", "image", "-n", ns, "pod/app", "c=evil.example.com/app:1.0"),
			"spec.containers[0].image", "[e2e-updates/images.allowedRegistries]")
		if r := mustKubectl(t, "", "get", "pod", "app", "-n", ns, "-o", "jsonpath={.spec.containers[0].image}"); r.Stdout != "busybox:1.36" {
			t.Errorf("image after the denied update = %q", r.Stdout)
		}
	})

	t.Run("LegacyDeployment", func(t *testing.T) {
		wantAdmitted(t, kubectl(t, "", "label", "-n", ns, "deploy/legacy", "foo=bar"))
		wantAdmitted(t, kubectl(t, "", "annotate", "-n", ns, "deploy/legacy", "owner=team-a"))
		wantAdmitted(t, kubectl(t, "", "scale", "-n", ns, "deploy/legacy", "--replicas=3"))
		// A plain UPDATE of the deployment itself (not the scale subresource) that leaves the pod
		// spec alone.
		wantAdmitted(t, kubectl(t, "", "patch", "-n", ns, "deploy/legacy", "--type=merge", "-p", `{"spec":{"replicas":2}}`))
		r := kubectl(t, "", "set", "image", "-n", ns, "deploy/legacy", "c=evil.example.com/app:1.0")
		wantDenied(t, r, `Deployment "legacy" in namespace "e2e-updates" was denied`,
			"spec.template.spec.containers[0].image", "spec.template.spec.containers[0].securityContext.privileged")
		got := mustKubectl(t, "", "get", "-n", ns, "deploy/legacy", "-o", "jsonpath={.metadata.labels.foo} {.spec.replicas} {.spec.template.spec.containers[0].image}").Stdout
		if got != "bar 2 busybox:1.37" {
			t.Errorf("deployment after the updates = %q, want %q", got, "bar 2 busybox:1.37")
		}
	})
}

// 8. kube-system and sealgate's own namespace are excluded by the webhook configuration: requests
// there never reach sealgate, even under a cluster-wide Enforce policy.
func TestSystemNamespacesNotSent(t *testing.T) {
	ns := namespace(t, "exempt", nil)
	// Cluster-wide (no namespaceSelector), limited to objects labelled e2e-exempt=yes so that it
	// affects no other test.
	applyPolicy(t, "e2e-exempt", `{mode: Enforce, match: {objectSelector: {matchLabels: {e2e-exempt: "yes"}}}, containers: {privileged: Forbid}}`)
	exemptPod := func(ns string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: e2e-exempt-priv, namespace: %s, labels: {e2e-exempt: "yes"}}
spec: {containers: [{name: c, image: "busybox:1.37", %s}]}
`, ns, privileged)
	}
	requests := func() float64 {
		return metric(t, "controller_runtime_webhook_requests_total", map[string]string{"webhook": "/validate"})
	}
	decisions := func() float64 { return metric(t, "sealgate_admission_decisions_total", nil) }
	reqBefore, decBefore := requests(), decisions()

	for _, sys := range []string{"kube-system", "sealgate-system"} {
		wantAdmitted(t, kubectl(t, exemptPod(sys), "apply", "-f", "-"))
		t.Cleanup(func() { cleanupKubectl(t, "delete", "pod", "e2e-exempt-priv", "-n", sys, "--ignore-not-found") })
	}
	wantDenied(t, kubectl(t, exemptPod(ns), "apply", "-f", "-"), "spec.containers[0].securityContext.privileged", "[e2e-exempt/containers.privileged]")

	// Exactly one request (the denied one) reached sealgate. The counters are written after the
	// response, so wait for the one, then make sure no more arrive.
	eventually(t, 5*time.Second, "the denied request counted", func() (bool, string) {
		return requests() >= reqBefore+1, fmt.Sprintf("webhook requests before %v, now %v", reqBefore, requests())
	})
	time.Sleep(500 * time.Millisecond)
	if got := requests(); got != reqBefore+1 {
		t.Errorf("controller_runtime_webhook_requests_total{webhook=\"/validate\"} rose by %v, want 1 (only the normal namespace)", got-reqBefore)
	}
	if got := decisions(); got != decBefore+1 {
		t.Errorf("sealgate_admission_decisions_total rose by %v, want 1", got-decBefore)
	}
}

// 9. namespaceSelector follows namespace labels from sealgate's informer: labelling the namespace
// brings it under the policy within seconds, no restart.
func TestNamespaceSelectorFollowsLabels(t *testing.T) {
	ns := namespace(t, "nslabels", nil)
	applyPolicy(t, "e2e-nslabels", `{match: {namespaceSelector: {matchLabels: {team: payments, e2e-test: nslabels}}}, containers: {privileged: Forbid}}`)
	p := pod(ns, "priv", "busybox:1.37", privileged, "")

	wantAdmitted(t, kubectl(t, p, "apply", "--dry-run=server", "-f", "-"))
	mustKubectl(t, "", "label", "ns", ns, "team=payments")
	start := time.Now()
	eventually(t, 10*time.Second, "the labelled namespace under the policy", func() (bool, string) {
		r := kubectl(t, p, "apply", "--dry-run=server", "-f", "-")
		return r.Err != nil && strings.Contains(r.Stderr, "[e2e-nslabels/containers.privileged]"), r.String()
	})
	t.Logf("denied %s after labelling the namespace", time.Since(start).Round(time.Millisecond))
	wantDenied(t, kubectl(t, p, "apply", "-f", "-"), "spec.containers[0].securityContext.privileged")

	mustKubectl(t, "", "label", "ns", ns, "team-")
	eventually(t, 10*time.Second, "the unlabelled namespace out of the policy", func() (bool, string) {
		r := kubectl(t, p, "apply", "--dry-run=server", "-f", "-")
		return r.Err == nil, r.String()
	})
}
