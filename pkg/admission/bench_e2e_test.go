package admission_test

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/admission"
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

// BenchmarkAdmissionE2EBodies is what make bench-e2e sends sealgate, in process: the pod reviews
// captured from a real API server (hack/benche2e/testdata), allowed and denied alternating, under
// the harness's policy (podSecurity restricted, latest).
func BenchmarkAdmissionE2EBodies(b *testing.B) {
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: "restricted", Generation: 1},
		Spec:       v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce, PodSecurity: &v1alpha1.PodSecurity{Level: "restricted", Version: "latest"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	h := &admission.Handler{Engine: &engine.Engine{Rules: rules.Default()}, Policies: admission.StaticPolicies{p}, Metrics: metrics.Nop{}, Log: logr.Discard()}
	if err := h.Defaults(); err != nil {
		b.Fatal(err)
	}
	var bodies [][]byte
	for _, f := range []string{"review-allowed.json", "review-denied.json"} {
		d, err := os.ReadFile("../../hack/benche2e/testdata/" + f)
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, d)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, err := h.ReviewBody(b.Context(), bodies[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
