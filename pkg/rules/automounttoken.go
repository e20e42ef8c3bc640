package rules

import (
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// automountServiceAccountToken implements spec.containers.automountServiceAccountToken: Forbid
// requires the pod to set spec.automountServiceAccountToken: false. Left unset, the pod gets its
// ServiceAccount's automountServiceAccountToken, which sealgate does not see: a workload is admitted
// before its pods meet their ServiceAccount, `sealgate check` reads files, and the ServiceAccount
// can change later. So only the pod's explicit false passes; a container that needs the API mounts
// a projected serviceAccountToken volume of its own. A pod-level field: findings name no container.
//
// Reads: spec.automountServiceAccountToken.
// Allowed: false.
var automountServiceAccountToken = register(Def[struct{}]{
	ID:   "containers.automountServiceAccountToken",
	Name: "Pods do not mount the ServiceAccount token automatically",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*struct{}, field.ErrorList) {
		return enabled(s.Containers != nil && s.Containers.AutomountServiceAccountToken == v1alpha1.Forbidden), nil
	},
	Check: func(_ *struct{}, t *Target, out *Findings) {
		const fix = "set automountServiceAccountToken: false, and mount a projected serviceAccountToken volume " +
			"in the containers that need the Kubernetes API"
		switch v := t.Spec.AutomountServiceAccountToken; {
		case v == nil:
			out.Add(Finding{Path: t.Path("automountServiceAccountToken"),
				Message: found("the pod does not set automountServiceAccountToken, so its ServiceAccount's token is mounted unless the ServiceAccount opts out", fix)})
		case *v:
			out.Add(Finding{Path: t.Path("automountServiceAccountToken"),
				Message: found("the pod sets automountServiceAccountToken: true, mounting its ServiceAccount's token in every container", fix)})
		}
	},
	CEL: func(*struct{}) []CELCheck {
		const fix = "set automountServiceAccountToken: false, and mount a projected serviceAccountToken volume " +
			"in the containers that need the Kubernetes API"
		v := CELSpec + ".?automountServiceAccountToken"
		return []CELCheck{{
			Expression: "!" + v + ".orValue(true)",
			MessageExpression: CELSpecPath + " + '.automountServiceAccountToken: ' + (" + v + ".hasValue() ? " +
				celText(found("the pod sets automountServiceAccountToken: true, mounting its ServiceAccount's token in every container", fix)) + " : " +
				celText(found("the pod does not set automountServiceAccountToken, so its ServiceAccount's token is mounted unless the ServiceAccount opts out", fix)) + ")",
			Exact: true,
		}}
	},
})
