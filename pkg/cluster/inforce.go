package cluster

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
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
// otherwise none. The start-up load and the reconciler both decide here.
func Decide(obj *v1alpha1.ClusterAdmissionPolicy) InForce {
	p, err := policy.Compile(obj)
	if err == nil {
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
	}
	return out
}
