//go:build e2e

package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// 5. A policy's life with kubectl and no restart: Enforce denies, switching it to Warn admits with a
// warning, deleting it admits silently. Invalid policies are rejected at apply; status and the
// printer columns report the policy in force.
func TestPolicyLifecycle(t *testing.T) {
	const name = "e2e-lifecycle"
	ns := namespace(t, "lifecycle", nil)
	spec := func(mode string) string {
		return fmt.Sprintf("{mode: %s, match: %s, containers: {privileged: Forbid}}", mode, scoped("lifecycle"))
	}
	p := pod(ns, "priv", "busybox:1.37", privileged, "")

	applyPolicy(t, name, spec("Enforce"))
	wantColumns(t, name, "Enforce", "True")
	wantDenied(t, kubectl(t, p, "apply", "-f", "-"), "spec.containers[0].securityContext.privileged", "[e2e-lifecycle/containers.privileged]")

	// Same name, mode changed: a new generation, in force once status says so.
	mustKubectl(t, policyYAML(name, spec("Warn")), "apply", "-f", "-")
	waitPolicyReady(t, name)
	if r := mustKubectl(t, "", "get", "cap", name, "-o", "jsonpath={.metadata.generation}"); r.Stdout != "2" {
		t.Errorf("generation after the change = %q, want 2", r.Stdout)
	}
	wantColumns(t, name, "Warn", "True")
	r := kubectl(t, p, "apply", "-f", "-")
	if r.Err != nil || !strings.Contains(r.Stderr, "Warning: sealgate: spec.containers[0].securityContext.privileged: ") {
		t.Fatalf("want admitted with a warning: %s", r)
	}
	mustKubectl(t, "", "delete", "pod", "priv", "-n", ns)

	mustKubectl(t, "", "delete", "cap", name)
	// Deletion has no status to wait for: poll the verdict (server dry run, so nothing is stored).
	eventually(t, settle, "the deleted policy out of force", func() (bool, string) {
		r := kubectl(t, p, "apply", "--dry-run=server", "-f", "-")
		return r.Err == nil && !strings.Contains(r.Stderr, "Warning:"), r.String()
	})
	wantAdmitted(t, kubectl(t, p, "apply", "-f", "-"))

	t.Run("InvalidPatternRejectedByWebhook", func(t *testing.T) {
		r := kubectl(t, policyYAML(name+"-invalid", `{mode: Enforce, images: {allowedRegistries: ["acme-*"]}}`), "apply", "-f", "-")
		t.Logf("%s", r)
		for _, w := range []string{`admission webhook "policies.sealgate.dev" denied the request`,
			`spec.images.allowedRegistries[0]: Invalid value: "acme-*"`} {
			if r.Code() < 1 || !strings.Contains(r.Stderr, w) {
				t.Errorf("want rejected with %q: %s", w, r)
			}
		}
		wantNoPolicy(t, name+"-invalid")
	})

	t.Run("InvalidModeRejectedBySchema", func(t *testing.T) {
		// The CRD's enum rejects the mode before any validating webhook runs, so the API server
		// reports spec.mode and the webhook never sees this object.
		r := kubectl(t, policyYAML(name+"-block", `{mode: Block, images: {allowedRegistries: ["acme-*"]}}`), "apply", "-f", "-")
		t.Logf("%s", r)
		if r.Code() < 1 || !strings.Contains(r.Stderr, `spec.mode: Unsupported value: "Block"`) {
			t.Errorf("want rejected naming spec.mode: %s", r)
		}
		wantNoPolicy(t, name+"-block")
	})

	t.Run("InvalidUpdateKeepsPolicyInForce", func(t *testing.T) {
		applyPolicy(t, name+"-kept", fmt.Sprintf("{match: %s, containers: {privileged: Forbid}}", scoped("lifecycle")))
		r := kubectl(t, policyYAML(name+"-kept", `{images: {allowedRegistries: ["acme-*"]}}`), "apply", "-f", "-")
		if r.Code() < 1 || !strings.Contains(r.Stderr, "spec.images.allowedRegistries[0]") {
			t.Fatalf("want the invalid update rejected: %s", r)
		}
		waitPolicyReady(t, name+"-kept") // still generation 1, still Ready
		wantDenied(t, kubectl(t, pod(ns, "priv2", "busybox:1.37", privileged, ""), "apply", "--dry-run=server", "-f", "-"),
			"[e2e-lifecycle-kept/containers.privileged]")
	})
}

// wantColumns checks `kubectl get cap NAME`: the printer columns NAME MODE READY VIOLATIONS AGE.
// VIOLATIONS is blank until the background audit has counted the policy.
func wantColumns(t *testing.T, name, mode, ready string) {
	t.Helper()
	r := mustKubectl(t, "", "get", "cap", name)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl get cap: %s", r)
	}
	if h := strings.Fields(lines[0]); strings.Join(h, " ") != "NAME MODE READY VIOLATIONS AGE" {
		t.Errorf("kubectl get cap header = %q", lines[0])
	}
	f := strings.Fields(lines[1])
	if len(f) < 4 || len(f) > 5 || f[0] != name || f[1] != mode || f[2] != ready {
		t.Errorf("kubectl get cap row = %q, want %s %s %s", lines[1], name, mode, ready)
	}
	if len(f) == 5 {
		if _, err := strconv.Atoi(f[3]); err != nil {
			t.Errorf("kubectl get cap row = %q: VIOLATIONS %q is not a count", lines[1], f[3])
		}
	}
}

func wantNoPolicy(t *testing.T, name string) {
	t.Helper()
	if r := kubectl(t, "", "get", "cap", name); !strings.Contains(r.Stderr, "NotFound") {
		t.Errorf("the rejected policy exists: %s", r)
	}
}
