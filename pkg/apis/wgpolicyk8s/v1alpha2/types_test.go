package v1alpha2

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestWireFormat: a PolicyReport serializes as the Policy WG's v1alpha2 format that Policy Reporter
// reads (resources, message, timestamp as seconds and nanos), although its results are OpenReports types.
func TestWireFormat(t *testing.T) {
	r := PolicyReport{
		TypeMeta:   metav1.TypeMeta{APIVersion: GroupVersion.String(), Kind: "PolicyReport"},
		ObjectMeta: metav1.ObjectMeta{Name: "sealgate", Namespace: "apps"},
		Summary:    openreportsv1alpha1.ReportSummary{Fail: 1},
		Results: []openreportsv1alpha1.ReportResult{{
			Source: "sealgate", Policy: "baseline", Rule: "podSecurity.privileged", Result: "fail",
			Timestamp:   metav1.Timestamp{Seconds: 1700000000, Nanos: 5},
			Subjects:    []corev1.ObjectReference{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "apps", Name: "web"}},
			Description: "privileged", Properties: map[string]string{"path": "spec.template.spec.containers[0].securityContext.privileged"},
		}},
	}
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"PolicyReport","apiVersion":"wgpolicyk8s.io/v1alpha2","metadata":{"name":"sealgate","namespace":"apps"},` +
		`"summary":{"pass":0,"fail":1,"warn":0,"error":0,"skip":0},` +
		`"results":[{"source":"sealgate","policy":"baseline","rule":"podSecurity.privileged","timestamp":{"seconds":1700000000,"nanos":5},` +
		`"result":"fail","resources":[{"kind":"Deployment","namespace":"apps","name":"web","apiVersion":"apps/v1"}],` +
		`"message":"privileged","properties":{"path":"spec.template.spec.containers[0].securityContext.privileged"}}]}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

// TestScheme: the four kinds are registered, namespaced and cluster-scoped reports with their lists,
// and a deep copy shares no results with the original.
func TestScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"PolicyReport", "PolicyReportList", "ClusterPolicyReport", "ClusterPolicyReportList"} {
		if !s.Recognizes(GroupVersion.WithKind(kind)) {
			t.Errorf("%s is not registered", kind)
		}
	}
	r := &ClusterPolicyReport{Results: []openreportsv1alpha1.ReportResult{{Policy: "p", Properties: map[string]string{"k": "v"}}}}
	c := r.DeepCopyObject().(*ClusterPolicyReport)
	c.Results[0].Properties["k"] = "changed"
	if r.Results[0].Properties["k"] != "v" {
		t.Error("DeepCopy shares the results' properties with the original")
	}
}
