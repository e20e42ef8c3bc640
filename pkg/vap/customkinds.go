package vap

import (
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"

	"github.com/sealgate/sealgate/pkg/workload"
)

// generated is the CEL list of the container (init: init container) names the kind's operator
// generates, which the webhook does not judge (workload.CustomKind.Generated); [] for a core kind.
func generated(k workload.Kind, init bool) string {
	ck, ok := workload.CustomKinds(workload.BuiltinCustomKinds).Lookup(k.GVK)
	if !ok {
		return "[]"
	}
	names := ck.Generated
	if init {
		names = ck.GeneratedInit
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// hasPodSpec is the policy's match condition when it matches custom kinds: the webhook admits a
// custom object with nothing at its pod spec path (an Argo Rollout with spec.workloadRef, whose
// Deployment is checked on its own), so the policy skips it too. Nil for the core kinds alone,
// whose pod spec the API server requires.
func hasPodSpec(kinds []workload.Kind) []admissionv1.MatchCondition {
	var custom bool
	expr := byKind(kinds, func(k workload.Kind) string {
		if _, ok := workload.Lookup(k.GVK); ok {
			return "true"
		}
		custom = true
		// Each field present and not null, as workload's decodeAt reads the path.
		var conds []string
		path := "object"
		for _, f := range strings.Split(k.SpecPath, ".") {
			conds = append(conds, "has("+path+"."+f+")")
			path += "." + f
			conds = append(conds, path+" != null")
		}
		return "(" + strings.Join(conds, " && ") + ")"
	})
	if !custom {
		return nil
	}
	return []admissionv1.MatchCondition{{Name: "sealgate-has-pod-spec", Expression: expr}}
}
