//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// Creating an Enforce policy that workloads already running violate returns, through kubectl, the
// what-if warning: how many objects it would deny, where. Changing its spec warns again in the new
// mode's words.
func TestWhatIfWarningOnApply(t *testing.T) {
	ns := namespace(t, "whatif", nil)
	mustKubectl(t, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %[1]s}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: "busybox:1.37", securityContext: {privileged: true}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: solo, namespace: %[1]s}
spec: {containers: [{name: c, image: "busybox:1.37", securityContext: {privileged: true}}]}
`, ns), "apply", "-f", "-")

	const name = "e2e-whatif"
	enforce := policyYAML(name, fmt.Sprintf(`{mode: Enforce, match: %s, containers: {privileged: Forbid}}`, scoped("whatif")))
	// The Deployment has no pods: the suite runs no controller-manager.
	const counts = "2 objects (1 pod) in 1 namespace (" + "e2e-whatif" + ": 2); by rule: containers.privileged 2"
	want := "Warning: sealgate: among what already runs, this policy would deny " + counts
	// The replica's informers see the workloads a moment after they are created: a server-side dry
	// run (the same webhook call, nothing stored) waits for that without creating the policy.
	eventually(t, settle, "the what-if on a dry run", func() (bool, string) {
		r := kubectl(t, enforce, "apply", "--dry-run=server", "-f", "-")
		return r.Err == nil && strings.Contains(r.Stderr, want), r.String()
	})
	t.Cleanup(func() { cleanupKubectl(t, "delete", "clusteradmissionpolicy", name, "--ignore-not-found") })
	r := mustKubectl(t, enforce, "apply", "-f", "-")
	if !strings.Contains(r.Stderr, want) {
		t.Errorf("kubectl apply of the policy: want %q on stderr, got: %s", want, r)
	}
	if n := strings.Count(r.Stderr, "Warning: sealgate:"); n != 1 {
		t.Errorf("%d sealgate warnings, want 1: %s", n, r)
	}

	warn := policyYAML(name, fmt.Sprintf(`{mode: Warn, match: %s, containers: {privileged: Forbid}}`, scoped("whatif")))
	r = mustKubectl(t, warn, "apply", "-f", "-")
	if w := "this policy would warn on " + counts; !strings.Contains(r.Stderr, w) {
		t.Errorf("kubectl apply of the changed policy: want %q on stderr, got: %s", w, r)
	}
}
