package admission

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/rules"
)

func exceptionRequest(namespace, obj string) *admissionv1.AdmissionRequest {
	return &admissionv1.AdmissionRequest{UID: "u", Operation: admissionv1.Create, Namespace: namespace,
		Kind:   metav1.GroupVersionKind{Group: "sealgate.dev", Version: "v1alpha1", Kind: "PolicyException"},
		Object: runtime.RawExtension{Raw: []byte(obj)}}
}

func exceptionJSON(namespace, spec string) string {
	return `{"apiVersion": "sealgate.dev/v1alpha1", "kind": "PolicyException", "metadata": {"name": "cni", "namespace": "` +
		namespace + `"}, "spec": ` + spec + `}`
}

// The policy webhook validates PolicyExceptions as files are validated, every wrong field with its
// path, and checks the rules they name; a valid exception that would not apply is admitted with
// warnings that say why.
func TestPolicyValidatorExceptions(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	v := &PolicyValidator{Log: logr.Discard(), Rules: rules.Default(), ExceptionNamespace: "sealgate-system",
		Now: func() time.Time { return at },
		Policies: StaticPolicies{
			testCompile(t, "baseline", v1alpha1.PolicySpec{}),
			testCompile(t, "strict", v1alpha1.PolicySpec{Exceptions: &v1alpha1.ExceptionRules{Forbid: true}}),
		}}
	for _, tc := range []struct {
		name     string
		req      *admissionv1.AdmissionRequest
		allowed  bool
		message  []string
		warnings []string
	}{
		{"valid", exceptionRequest("sealgate-system", exceptionJSON("sealgate-system",
			`{"reason": "CNI", "policies": [{"name": "baseline", "rules": ["podSecurity.hostNamespaces"]}], "match": {"namespaces": ["kube-system"]}}`)),
			true, nil, nil},
		{"invalid, with paths", exceptionRequest("sealgate-system", exceptionJSON("sealgate-system",
			`{"policies": [{"name": "baseline", "rules": ["containers.privilegd"]}], "match": {"kind": ["Pod"], "images": ["a:v*"]}}`)),
			false, []string{`exception "sealgate-system/cni" is invalid:`, `unknown field "spec.match.kind"`, "spec.reason: Required value",
				`spec.match.images[0]: Invalid value: "a:v*"`}, nil},
		{"unknown rule", exceptionRequest("sealgate-system", exceptionJSON("sealgate-system",
			`{"reason": "r", "policies": [{"name": "baseline", "rules": ["containers.privilegd"]}]}`)),
			false, []string{`spec.policies[0].rules[0]: Invalid value: "containers.privilegd": no rule of this sealgate has this ID`}, nil},
		{"ignored, expired and missing", exceptionRequest("team-a", exceptionJSON("team-a",
			`{"reason": "r", "expires": "2029-12-31T00:00:00Z", "policies": [{"name": "baseline"}, {"name": "strict"}, {"name": "later"}]}`)),
			true, nil, []string{
				`sealgate: exception "team-a/cni" expired at 2029-12-31T00:00:00Z (spec.expires) and waives nothing`,
				`sealgate: this exception is ignored: policy "baseline" accepts exceptions only from sealgate's namespace "sealgate-system" (spec.exceptions.allowedNamespaces is unset); move the exception there, or list "team-a" in the policy's spec.exceptions.allowedNamespaces`,
				`sealgate: this exception is ignored: policy "strict" forbids exceptions (spec.exceptions.forbid)`,
				`sealgate: no policy named "later" is in force; the exception applies to it once one is (spec.policies)`,
			}},
	} {
		resp, _ := v.Review(context.Background(), tc.req)
		if resp.Allowed != tc.allowed {
			t.Errorf("%s: allowed = %v, want %v: %+v", tc.name, resp.Allowed, tc.allowed, resp.Result)
		}
		for _, m := range tc.message {
			if resp.Result == nil || !strings.Contains(resp.Result.Message, m) {
				t.Errorf("%s: message lacks %q:\n%v", tc.name, m, resp.Result)
			}
		}
		if diff := cmp.Diff(tc.warnings, resp.Warnings); diff != "" && tc.allowed {
			t.Errorf("%s: warnings (-want +got):\n%s", tc.name, diff)
		}
		if !tc.allowed && resp.Result.Code != 422 {
			t.Errorf("%s: code %d, want 422", tc.name, resp.Result.Code)
		}
	}
}
