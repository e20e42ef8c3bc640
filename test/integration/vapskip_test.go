//go:build integration

package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/vap"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// TestWebhookLeavesExactRulesToVAP: once sealgate's fallback reconciler has the policy's generated
// VAP Synced at the generation in force, the running sealgate's webhook stops judging the rules
// listed Exact (the VAP denies them, once), while its background audit still reports them; with the
// fallback turned off, the webhook judges them again. The requests go to sealgate directly, so what
// they show is the webhook's verdict alone. The fail-open gauge follows.
func TestWebhookLeavesExactRulesToVAP(t *testing.T) {
	const name = "int-vapskip"
	const spec = `{mode: Enforce, %smatch: {namespaceSelector: {matchLabels: {int-test: vapskip}}}, ` +
		`containers: {privileged: Forbid, readOnlyRootFilesystem: Require}}`
	const rule = "containers.privileged"
	ns := namespace(t, "vapskip", nil)
	// A pod that predates the policy, for the background audit.
	mustKubectl(t, pod(ns, "priv", `securityContext: {privileged: true, readOnlyRootFilesystem: true}`), "apply", "-f", "-")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
		defer cancel()
		_, _, _ = env.Kubectl(ctx, "", "delete", "pod", "-n", ns, "priv", "--ignore-not-found", "--wait=false")
	})
	// Failing open before the policy is applied, so that the fail-open check, which runs on each
	// policy change, sees both.
	failOpen(t)
	applyPolicy(t, name, fmt.Sprintf(spec, ""))
	res := compileCAP(t, name, mustSpec(t, fmt.Sprintf(spec, "")))
	exact := 0
	for _, r := range res.Rules {
		if r.State == vap.Exact {
			exact++
		}
		if r.Rule == rule && r.State != vap.Exact {
			t.Fatalf("%s compiles %s, not Exact: this test needs an exact rule", rule, r.State)
		}
	}
	// Privileged, with the read-only root filesystem the other rule requires: only the exact rule fails.
	const extra = `"securityContext": {"privileged": true, "readOnlyRootFilesystem": true}`
	review := func() (bool, string) {
		allowed, msg, err := reviewPod(t, sg, ns, "priv", extra)
		if err != nil {
			t.Fatal(err)
		}
		return allowed, msg
	}
	if allowed, msg := review(); allowed || !strings.Contains(msg, name+"/"+rule) {
		t.Fatalf("without spec.fallback the webhook must deny with %s: allowed=%v %q", rule, allowed, msg)
	}
	// The fail-open check: with the webhook failing open, the gauge counts this policy's rules until
	// the fallback syncs, then only those not Exact.
	const gauge = "sealgate_fail_open_unprotected_rules"
	eventually(t, settle, "the gauge counts the policy's rules", func() (bool, string) {
		n := metric(t, gauge, nil)
		return n >= float64(len(res.Rules)), fmt.Sprintf("%s %v", gauge, n)
	})
	before := metric(t, gauge, nil)

	applyPolicy(t, name, fmt.Sprintf(spec, "fallback: ValidatingAdmissionPolicy, "))
	eventually(t, settle, "the fallback is Synced", func() (bool, string) {
		var cap v1alpha1.ClusterAdmissionPolicy
		if err := env.Client.Get(t.Context(), client.ObjectKey{Name: name}, &cap); err != nil {
			return false, err.Error()
		}
		fb := cap.Status.Fallback
		return fb != nil && fb.State == v1alpha1.FallbackSynced && fb.Generation == cap.Generation, fmt.Sprintf("%+v", fb)
	})
	eventually(t, settle, "the webhook leaves "+rule+" to the VAP", func() (bool, string) {
		allowed, msg := review()
		return allowed, msg
	})
	eventually(t, settle, "the gauge leaves out the exact rules", func() (bool, string) {
		n := metric(t, gauge, nil)
		return n == before-float64(exact), fmt.Sprintf("%s %v, want %v", gauge, n, before-float64(exact))
	})
	if !strings.Contains(sg.Log.String(), "has failurePolicy Ignore") {
		t.Errorf("sealgate did not log that the webhook fails open")
	}
	// The background audit, which judges what is running, still reports the rule.
	waitReport(t, ns, "the audit reports the rule the webhook left to the VAP",
		fmt.Sprintf("fail %s/%s Pod/priv pods=1", name, rule))

	applyPolicy(t, name, fmt.Sprintf(spec, ""))
	eventually(t, settle, "without the fallback "+rule+" is back in the webhook", func() (bool, string) {
		allowed, msg := review()
		return !allowed && strings.Contains(msg, name+"/"+rule), msg
	})
}

// failOpen sets the workload webhook's failurePolicy to Ignore until the test ends.
func failOpen(t *testing.T) {
	t.Helper()
	// set sets the failurePolicy and returns the one it replaced.
	set := func(ctx context.Context, fp *admissionregistrationv1.FailurePolicyType) (*admissionregistrationv1.FailurePolicyType, error) {
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "sealgate"}, vwc); err != nil {
			return nil, err
		}
		var old *admissionregistrationv1.FailurePolicyType
		patch := client.MergeFrom(vwc.DeepCopy())
		for i := range vwc.Webhooks {
			if vwc.Webhooks[i].Name == webhookconfig.WorkloadWebhook {
				old, vwc.Webhooks[i].FailurePolicy = vwc.Webhooks[i].FailurePolicy, fp
			}
		}
		return old, env.Client.Patch(ctx, vwc, patch)
	}
	old, err := set(t.Context(), new(admissionregistrationv1.Ignore))
	if err != nil {
		t.Fatalf("setting failurePolicy Ignore: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
		defer cancel()
		if _, err := set(ctx, old); err != nil {
			t.Errorf("restoring the webhook's failurePolicy: %v", err)
		}
	})
}
