//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFallbackSurvivesWebhookOutage is issue 12's acceptance: a policy with spec.fallback:
// ValidatingAdmissionPolicy keeps a privileged pod, an image outside the allowlist and a pod without
// limits out of the cluster while sealgate is down, through the ValidatingAdmissionPolicy sealgate
// generated, and each denial names the field and the rule.
func TestFallbackSurvivesWebhookOutage(t *testing.T) {
	const name = "e2e-fallback"
	ns := namespace(t, "fallback", nil)
	applyPolicy(t, name, fmt.Sprintf(`{mode: Enforce, fallback: ValidatingAdmissionPolicy, match: %s,
  images: {allowedRegistries: ["registry.example.com/*"]},
  containers: {privileged: Forbid},
  resources: {requireLimits: [cpu, memory]}}`, scoped("fallback")))
	eventually(t, settle, "status.fallback is Synced", func() (bool, string) {
		r := kubectl(t, "", "get", "clusteradmissionpolicy", name, "-o", "jsonpath={.status.fallback.state}")
		return strings.TrimSpace(r.Stdout) == "Synced", r.String()
	})
	mustKubectl(t, "", "get", "validatingadmissionpolicy", "sealgate-"+name)
	mustKubectl(t, "", "get", "validatingadmissionpolicybinding", "sealgate-"+name)

	const limits = `resources: {limits: {cpu: 100m, memory: 64Mi}}`
	cases := []struct {
		name, container, path, rule string
	}{
		{"privileged", `{name: app, image: registry.example.com/app:1.0, securityContext: {privileged: true}, ` + limits + `}`,
			"spec.containers[0].securityContext.privileged", "containers.privileged"},
		{"foreign-image", `{name: app, image: docker.io/library/nginx:1.27, ` + limits + `}`,
			"spec.containers[0].image", "images.allowedRegistries"},
		{"no-limits", `{name: app, image: registry.example.com/app:1.0}`,
			"spec.containers[0].resources.limits", "resources.requireLimits"},
	}
	podYAML := func(pod, container string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s}\nspec: {containers: [%s]}\n", pod, ns, container)
	}
	// While sealgate is up, the VAP denies too: the API server runs it before any webhook.
	for _, c := range cases {
		r := kubectl(t, podYAML(c.name, c.container), "apply", "--dry-run=server", "-f", "-")
		wantVAPDenied(t, r, name, c.path, c.rule)
	}

	if err := sg.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		next, err := env.Restart(ctx, sg, sealgateBinary)
		if err != nil {
			t.Fatalf("restarting sealgate: %v", err)
		}
		sg = next
	})
	for _, c := range cases {
		r := kubectl(t, podYAML(c.name, c.container), "apply", "-f", "-")
		if r.Err == nil {
			cleanupKubectl(t, "delete", "pod", "-n", ns, c.name, "--ignore-not-found")
		}
		wantVAPDenied(t, r, name, c.path, c.rule)
		t.Logf("%s with sealgate down: %s", c.name, strings.TrimSpace(r.Stderr))
	}
	// A pod that passes the VAP still needs the webhook, which is down: failurePolicy Fail refuses it,
	// so a rule the VAP does not enforce (here none) cannot be slipped past.
	r := kubectl(t, podYAML("compliant", `{name: app, image: registry.example.com/app:1.0, `+limits+`}`), "apply", "--dry-run=server", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, "failed calling webhook") {
		t.Errorf("a pod the VAP admits should be refused by the unreachable webhook (failurePolicy Fail): %s", r)
	}
}

// wantVAPDenied asserts that kubectl was refused by the generated ValidatingAdmissionPolicy of
// policy, with a 403, naming path and rule.
func wantVAPDenied(t *testing.T, r result, policy, path, rule string) {
	t.Helper()
	if r.Err == nil {
		t.Fatalf("want a denial by the generated ValidatingAdmissionPolicy, got: %s", r)
	}
	for _, w := range []string{"Error from server (Forbidden)", "ValidatingAdmissionPolicy 'sealgate-" + policy + "'", path,
		"[" + policy + "/" + rule + "]"} {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("kubectl stderr lacks %q: %s", w, r)
		}
	}
	if strings.Contains(r.Stderr, `admission webhook "workloads.sealgate.dev"`) {
		t.Errorf("the webhook reported a rule the VAP enforces exactly: %s", r)
	}
}
