package rules

import (
	"strconv"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fsGroup implements spec.containers.fsGroup: the pod sets securityContext.fsGroup, the group that
// owns its volumes and that every container gets as a supplemental group, to an ID in one of the
// ranges, as a PodSecurityPolicy's MustRunAs did. It is a pod-level field, so findings name no
// container. Windows pods are exempt: the API server rejects fsGroup on them.
//
// Reads: spec.os.name, spec.securityContext.fsGroup.
// Allowed: fsGroup set and within a range.
var fsGroup = register(Def[idRanges]{
	ID:   "containers.fsGroup",
	Name: "Pods set an fsGroup in the allowed ranges",
	Compile: func(s *v1alpha1.PolicySpec, spec *field.Path) (*idRanges, field.ErrorList) {
		if s.Containers == nil {
			return nil, nil
		}
		return compileIDRanges(s.Containers.FSGroup, spec.Child("containers", "fsGroup"))
	},
	Check: func(r *idRanges, t *Target, out *Findings) {
		if windowsPod(t.Spec) {
			return
		}
		var id *int64
		if sc := t.Spec.SecurityContext; sc != nil {
			id = sc.FSGroup
		}
		switch {
		case id == nil:
			out.Add(Finding{Path: t.Path("securityContext", "fsGroup"),
				Message: found("the pod sets no securityContext.fsGroup",
					"set the pod's securityContext.fsGroup; the allowed fsGroup IDs are "+r.text)})
		case !r.allows(*id):
			out.Add(Finding{Path: t.Path("securityContext", "fsGroup"),
				Message: found("the pod sets fsGroup: "+strconv.FormatInt(*id, 10),
					"the allowed fsGroup IDs are "+r.text+": set the pod's securityContext.fsGroup to one of them")})
		}
	},
	CEL: func(r *idRanges) []CELCheck {
		id := CELSpec + ".?securityContext.?fsGroup"
		return []CELCheck{{
			Expression: celWindows + " || [" + id + ".orValue(-1)].exists(id, " + r.cel("id") + ")",
			MessageExpression: CELSpecPath + " + '.securityContext.fsGroup: ' + (" + id + ".hasValue() ? 'the pod sets fsGroup: ' + string(" + id + ".value()) + " +
				celText("; the allowed fsGroup IDs are "+r.text+": set the pod's securityContext.fsGroup to one of them") + " : " +
				celText("the pod sets no securityContext.fsGroup; set the pod's securityContext.fsGroup; the allowed fsGroup IDs are "+r.text) + ")",
			Exact: true,
		}}
	},
})
