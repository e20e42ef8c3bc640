package admission

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

// TestHandlerLeavesExactRulesToTheVAP: with the admission engine's SkipVAPRules, a rule the
// policy's generated VAP enforces exactly is neither in the denial nor in the metrics (the API server
// reports it once, through the VAP); the rules the VAP does not enforce exactly still deny here.
func TestHandlerLeavesExactRulesToTheVAP(t *testing.T) {
	p := testCompile(t, "enforce", v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce,
		Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden},
		Images:     &v1alpha1.ImageRules{AllowedRegistries: []string{"registry.example.com/**"}}})
	p.SkipRules = map[string]bool{"containers.privileged": true}
	for _, tc := range []struct {
		name  string
		image string
		want  testOutcome
	}{
		{"only the skipped rule is violated", "registry.example.com/team/app:1.2.3",
			testOutcome{Allowed: true, Code: 200, Decision: "allowed"}},
		{"another rule is violated too", "evil.example.com/app:1",
			testOutcome{Code: 403, Reason: metav1.StatusReasonForbidden, Decision: "denied",
				Denials:    []string{"spec.containers[0].image [enforce/images.allowedRegistries]"},
				Violations: []string{"enforce/images.allowedRegistries/Enforce/denied"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, rec := testHandler(t, StaticPolicies{p}, nil)
			h.Engine.SkipVAPRules = true
			pod := testPod(testPodSpec(testPrivileged(testContainer("app", tc.image))))
			resp, decision := h.Review(context.Background(), testRequest(t, admissionv1.Create, "", pod, nil))
			if diff := cmp.Diff(tc.want, testOutcomeOf(t, resp, decision, rec)); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}
