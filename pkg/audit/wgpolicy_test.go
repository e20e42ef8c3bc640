package audit_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	wgv1alpha2 "github.com/sealgate/sealgate/pkg/apis/wgpolicyk8s/v1alpha2"
	"github.com/sealgate/sealgate/pkg/audit"
)

func TestToPolicyWG(t *testing.T) {
	rep, _ := prodReport(t, prodObjects(t), t1)
	rep.Annotations = map[string]string{audit.AnnotationResultsOmitted: "3"}
	crep := audit.SummaryReport(&audit.Summary{}, threePolicies(t), t1)
	for _, tc := range []struct {
		in      runtime.Object
		kind    string
		results []orv1alpha1.ReportResult
		summary orv1alpha1.ReportSummary
		meta    metav1.ObjectMeta
	}{
		{rep, "PolicyReport", rep.Results, rep.Summary, rep.ObjectMeta},
		{crep, "ClusterPolicyReport", crep.Results, crep.Summary, crep.ObjectMeta},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			u, err := audit.ToPolicyWG(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if u.GetAPIVersion() != "wgpolicyk8s.io/v1alpha2" || u.GetKind() != tc.kind {
				t.Errorf("apiVersion %s, kind %s; want wgpolicyk8s.io/v1alpha2 %s", u.GetAPIVersion(), u.GetKind(), tc.kind)
			}
			for _, field := range []string{"source", "configuration"} {
				if _, ok := u.Object[field]; ok {
					t.Errorf("%s has a top-level %s, which the Policy WG API does not define", tc.kind, field)
				}
			}
			if u.GetName() != tc.meta.Name || u.GetNamespace() != tc.meta.Namespace ||
				!cmp.Equal(u.GetLabels(), tc.meta.Labels) || !cmp.Equal(u.GetAnnotations(), tc.meta.Annotations, cmpEmptyMap) {
				t.Errorf("metadata = %v, want %+v", u.Object["metadata"], tc.meta)
			}
			// Read back strictly into the Policy WG types: nothing unknown, nothing lost.
			results, summary := strictPolicyWG(t, u)
			if diff := cmp.Diff(tc.results, results); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if summary != tc.summary {
				t.Errorf("summary = %+v, want %+v", summary, tc.summary)
			}
		})
	}
	if _, err := audit.ToPolicyWG(&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}}); err == nil {
		t.Error("ToPolicyWG(Pod): want an error")
	}
}

var cmpEmptyMap = cmp.FilterValues(func(a, b map[string]string) bool { return len(a) == 0 && len(b) == 0 },
	cmp.Comparer(func(a, b map[string]string) bool { return true }))

// strictPolicyWG decodes a Policy WG report into its Go type, rejecting unknown fields.
func strictPolicyWG(t *testing.T, u *unstructured.Unstructured) ([]orv1alpha1.ReportResult, orv1alpha1.ReportSummary) {
	t.Helper()
	data, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if u.GetKind() == "PolicyReport" {
		var r wgv1alpha2.PolicyReport
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("decoding as wgpolicyk8s.io PolicyReport: %v", err)
		}
		return r.Results, r.Summary
	}
	var r wgv1alpha2.ClusterPolicyReport
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("decoding as wgpolicyk8s.io ClusterPolicyReport: %v", err)
	}
	return r.Results, r.Summary
}
