package cluster

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/vap"
	// The rules register their compilers with pkg/policy: what is in force is decided by them.
	_ "github.com/sealgate/sealgate/pkg/rules"
)

// InForce says which generation of a policy is in force, and why.
type InForce struct {
	// Policy is the compiled generation in force; nil when none is.
	Policy *policy.Policy
	// Invalid is why the current generation does not compile; nil when it is the one in force.
	Invalid error
	// RecordInvalid is why the generation recorded in status.inForce does not compile with this
	// version of sealgate; nil when the record compiled or was not needed.
	RecordInvalid error
}

// Decide says which generation of obj is in force. It reads the object and nothing else, never
// what this replica enforced before: every replica that sees the same object enforces the same
// policy, whenever it started. The current generation is in force if it compiles; otherwise the
// generation recorded in status.inForce, if that still compiles with this version of sealgate;
// otherwise none. The start-up load and the reconciler both decide here. The policy in force carries
// the rules its generated ValidatingAdmissionPolicy enforces exactly (skipRules).
func Decide(obj *v1alpha1.ClusterAdmissionPolicy) InForce {
	p, err := policy.Compile(obj)
	if err == nil {
		p.SkipRules = skipRules(obj.Status.Fallback, p)
		return InForce{Policy: p}
	}
	out := InForce{Invalid: err}
	rec := obj.Status.InForce
	if rec == nil {
		return out
	}
	// Compile deep-copies its input, so the record's spec is not shared with what it returns.
	recorded := &v1alpha1.ClusterAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: obj.Name, Generation: rec.Generation},
		Spec:       rec.Spec,
	}
	if out.Policy, err = policy.Compile(recorded); err != nil {
		out.Policy, out.RecordInvalid = nil, err
	} else {
		out.Policy.SkipRules = skipRules(obj.Status.Fallback, out.Policy)
	}
	return out
}

// skipRules returns the rules of p the admission path may leave to the generated
// ValidatingAdmissionPolicy: those status.fallback lists Exact, when the in-force spec asks for the
// fallback and the objects are Synced with the generation in force. It reads the status, never a
// compilation of its own: the status says what the objects in the cluster enforce, which during a
// rolling upgrade may be another version's compilation, and every replica reads the same status.
// A status of another generation, or any state but Synced, skips nothing.
func skipRules(st *v1alpha1.FallbackStatus, p *policy.Policy) map[string]bool {
	if st == nil || p.Source.Spec.Fallback != v1alpha1.FallbackVAP ||
		st.State != v1alpha1.FallbackSynced || st.Generation != p.Generation {
		return nil
	}
	var out map[string]bool
	for _, r := range st.Rules {
		if r.State != string(vap.Exact) {
			continue
		}
		if out == nil {
			out = make(map[string]bool, len(st.Rules))
		}
		out[r.Rule] = true
	}
	return out
}
