package cluster

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

// withFallback is object() with spec.fallback: ValidatingAdmissionPolicy on the current and the
// recorded spec, and status.fallback set to st.
func withFallback(gen int64, spec v1alpha1.PolicySpec, rec *v1alpha1.InForceRecord, st *v1alpha1.FallbackStatus) *v1alpha1.ClusterAdmissionPolicy {
	spec.Fallback = v1alpha1.FallbackVAP
	if rec != nil {
		rec.Spec.Fallback = v1alpha1.FallbackVAP
	}
	obj := object(gen, spec, rec)
	obj.Status.Fallback = st
	return obj
}

// fallbackStatus lists containers.privileged Exact, containers.readOnlyRootFilesystem Conservative
// and signatures[0] NotCompiled, in state for generation gen.
func fallbackStatus(state v1alpha1.FallbackState, gen int64) *v1alpha1.FallbackStatus {
	return &v1alpha1.FallbackStatus{State: state, Generation: gen, Name: "sealgate-p", Rules: []v1alpha1.FallbackRule{
		{Rule: "containers.privileged", State: "Exact"},
		{Rule: "containers.readOnlyRootFilesystem", State: "Conservative", Reason: "denies more"},
		{Rule: "signatures[0]", State: "NotCompiled", Reason: "needs the registry"},
	}}
}

// TestDecideSkipRules: the policy in force skips the rules status.fallback lists Exact, and only
// when the objects are Synced with the generation in force and the in-force spec asks for them.
func TestDecideSkipRules(t *testing.T) {
	exact := map[string]bool{"containers.privileged": true}
	noFallback := object(3, validSpec(true), nil)
	noFallback.Status.Fallback = fallbackStatus(v1alpha1.FallbackSynced, 3)
	for _, tc := range []struct {
		name string
		obj  *v1alpha1.ClusterAdmissionPolicy
		want map[string]bool
	}{
		{"synced at the generation in force", withFallback(3, validSpec(true), nil, fallbackStatus(v1alpha1.FallbackSynced, 3)), exact},
		{"synced at an older generation", withFallback(3, validSpec(true), nil, fallbackStatus(v1alpha1.FallbackSynced, 2)), nil},
		{"failed", withFallback(3, validSpec(true), nil, fallbackStatus(v1alpha1.FallbackFailed, 3)), nil},
		{"empty", withFallback(3, validSpec(true), nil, fallbackStatus(v1alpha1.FallbackEmpty, 3)), nil},
		{"no status", withFallback(3, validSpec(true), nil, nil), nil},
		{"spec.fallback unset", noFallback, nil},
		// Generation 3 does not compile; generation 2 is in force, and its objects are the ones to trust.
		{"invalid spec, synced at the recorded generation", withFallback(3, invalidSpec(),
			&v1alpha1.InForceRecord{Generation: 2, Spec: validSpec(true)}, fallbackStatus(v1alpha1.FallbackSynced, 2)), exact},
		{"invalid spec, synced at the current generation", withFallback(3, invalidSpec(),
			&v1alpha1.InForceRecord{Generation: 2, Spec: validSpec(true)}, fallbackStatus(v1alpha1.FallbackSynced, 3)), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.obj)
			if d.Policy == nil {
				t.Fatalf("nothing in force: %v", d.Invalid)
			}
			if diff := cmp.Diff(tc.want, d.Policy.SkipRules); diff != "" {
				t.Errorf("SkipRules (-want +got):\n%s", diff)
			}
		})
	}
}
