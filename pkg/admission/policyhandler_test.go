package admission

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sealgate/sealgate/pkg/policy"
)

func policyRequest(op admissionv1.Operation, obj, old string) *admissionv1.AdmissionRequest {
	req := &admissionv1.AdmissionRequest{UID: "u", Operation: op,
		Kind:   metav1.GroupVersionKind{Group: "sealgate.dev", Version: "v1alpha1", Kind: "ClusterAdmissionPolicy"},
		Object: runtime.RawExtension{Raw: []byte(obj)}}
	if old != "" {
		req.OldObject = runtime.RawExtension{Raw: []byte(old)}
	}
	return req
}

func policyJSON(labels, spec string) string {
	return `{"apiVersion": "sealgate.dev/v1alpha1", "kind": "ClusterAdmissionPolicy", "metadata": {"name": "p", "labels": ` +
		labels + `}, "spec": ` + spec + `}`
}

// The what-if runs when a valid policy is created or its spec changes, not when only its metadata
// does, nor for an invalid policy; its warnings never change the verdict.
func TestPolicyValidatorWhatIf(t *testing.T) {
	var asked []string
	v := &PolicyValidator{Log: logr.Discard(), WhatIf: func(_ context.Context, p *policy.Policy) []string {
		asked = append(asked, string(p.Mode))
		return []string{"sealgate: would deny 1 object"}
	}}
	privileged := `{"mode": "Enforce", "containers": {"privileged": "Forbid"}}`
	for _, tc := range []struct {
		name    string
		req     *admissionv1.AdmissionRequest
		allowed bool
		asked   bool
	}{
		{"create", policyRequest(admissionv1.Create, policyJSON(`{}`, privileged), ""), true, true},
		{"spec changed", policyRequest(admissionv1.Update, policyJSON(`{}`, privileged),
			policyJSON(`{}`, `{"mode": "Audit", "containers": {"privileged": "Forbid"}}`)), true, true},
		{"labels changed", policyRequest(admissionv1.Update, policyJSON(`{"team": "b"}`, privileged),
			policyJSON(`{"team": "a"}`, privileged)), true, false},
		{"invalid", policyRequest(admissionv1.Create, policyJSON(`{}`, `{"mode": "Sometimes"}`), ""), false, false},
	} {
		asked = nil
		resp, _ := v.Review(context.Background(), tc.req)
		if resp.Allowed != tc.allowed {
			t.Errorf("%s: allowed = %v, want %v: %+v", tc.name, resp.Allowed, tc.allowed, resp.Result)
		}
		if (len(asked) == 1) != tc.asked {
			t.Errorf("%s: what-if asked %d times, want asked=%v", tc.name, len(asked), tc.asked)
		}
		if got := len(resp.Warnings) == 1; got != tc.asked {
			t.Errorf("%s: warnings %q", tc.name, resp.Warnings)
		}
	}
}

// Whatever the hook returns, the response carries at most MaxWhatIfWarnings warnings of at most
// MaxWhatIfWarningBytes, cut between characters.
func TestPolicyValidatorBoundsWhatIf(t *testing.T) {
	long := strings.Repeat("é", MaxWhatIfWarningBytes)
	v := &PolicyValidator{Log: logr.Discard(), WhatIf: func(context.Context, *policy.Policy) []string {
		return []string{long, "b", "c", "d"}
	}}
	resp, _ := v.Review(context.Background(), policyRequest(admissionv1.Create, policyJSON(`{}`, `{"mode": "Audit"}`), ""))
	if len(resp.Warnings) != MaxWhatIfWarnings {
		t.Fatalf("%d warnings, want %d", len(resp.Warnings), MaxWhatIfWarnings)
	}
	first := resp.Warnings[0]
	if len(first) > MaxWhatIfWarningBytes || !strings.HasSuffix(first, "é…") {
		t.Errorf("first warning: %d bytes, ends %q", len(first), first[len(first)-8:])
	}
	if diff := cmp.Diff([]string{"b", "c"}, resp.Warnings[1:]); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
