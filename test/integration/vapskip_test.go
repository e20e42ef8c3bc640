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

// TestWebhookLeavesExactRulesToVAP: once a policy's status.fallback says its generated VAP is
// Synced at the generation in force, the running sealgate's webhook stops judging the rules listed
// Exact (the VAP denies them, once), while its background audit still reports them; Failed puts
// them back in the webhook. The status is written here as the VAP sync writes it, from the
// compiler's own rule list; no VAP is created, so what the API server admits is the webhook's
// verdict alone.
func TestWebhookLeavesExactRulesToVAP(t *testing.T) {
	const name = "int-vapskip"
	const spec = `{mode: Enforce, fallback: ValidatingAdmissionPolicy, match: {namespaceSelector: {matchLabels: {int-test: vapskip}}}, ` +
		`containers: {privileged: Forbid, readOnlyRootFilesystem: Require}}`
	const rule = "containers.privileged"
	ns := namespace(t, "vapskip", nil)
	// Failing open before the policy is applied, so that the fail-open check, which runs on each
	// policy change, sees both.
	failOpen(t)
	applyPolicy(t, name, spec)
	res := compileCAP(t, name, mustSpec(t, spec))
	var rules []v1alpha1.FallbackRule
	for _, r := range res.Rules {
		rules = append(rules, v1alpha1.FallbackRule{Rule: r.Rule, State: string(r.State), Reason: r.Reason})
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
		t.Fatalf("without status.fallback the webhook must deny with %s: allowed=%v %q", rule, allowed, msg)
	}

	setFallback := func(state v1alpha1.FallbackState) {
		t.Helper()
		var cap v1alpha1.ClusterAdmissionPolicy
		if err := env.Client.Get(t.Context(), client.ObjectKey{Name: name}, &cap); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(cap.DeepCopy())
		cap.Status.Fallback = &v1alpha1.FallbackStatus{State: state, Generation: cap.Generation, Name: vap.Name(name), Rules: rules}
		if err := env.Client.Status().Patch(t.Context(), &cap, patch); err != nil {
			t.Fatalf("writing status.fallback: %v", err)
		}
	}
	// The fail-open check: with the webhook failing open, the gauge counts this policy's rules until
	// the fallback syncs, then only those not Exact.
	const gauge = "sealgate_fail_open_unprotected_rules"
	eventually(t, settle, "the gauge counts the policy's rules", func() (bool, string) {
		n := metric(t, gauge, nil)
		return n >= float64(len(rules)), fmt.Sprintf("%s %v", gauge, n)
	})
	before := metric(t, gauge, nil)

	setFallback(v1alpha1.FallbackSynced)
	eventually(t, settle, "the webhook leaves "+rule+" to the VAP", func() (bool, string) {
		allowed, msg := review()
		return allowed, msg
	})
	exact := 0
	for _, r := range rules {
		if r.State == string(vap.Exact) {
			exact++
		}
	}
	eventually(t, settle, "the gauge leaves out the exact rules", func() (bool, string) {
		n := metric(t, gauge, nil)
		return n == before-float64(exact), fmt.Sprintf("%s %v, want %v", gauge, n, before-float64(exact))
	})
	if !strings.Contains(sg.Log.String(), "has failurePolicy Ignore") {
		t.Errorf("sealgate did not log that the webhook fails open")
	}

	// Through the API server: with no VAP in this test, the webhook alone admits the pod...
	mustKubectl(t, pod(ns, "priv", `securityContext: {privileged: true, readOnlyRootFilesystem: true}`), "apply", "-f", "-")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
		defer cancel()
		_, _, _ = env.Kubectl(ctx, "", "delete", "pod", "-n", ns, "priv", "--ignore-not-found", "--wait=false")
	})
	// ...and the background audit, which judges what is running, still reports the rule.
	waitReport(t, ns, "the audit reports the rule the webhook left to the VAP",
		fmt.Sprintf("fail %s/%s Pod/priv pods=1", name, rule))

	setFallback(v1alpha1.FallbackFailed)
	eventually(t, settle, "a Failed fallback puts "+rule+" back in the webhook", func() (bool, string) {
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
