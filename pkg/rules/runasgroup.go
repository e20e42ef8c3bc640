package rules

import (
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// runAsGroup implements spec.containers.runAsGroup: every container, init container and ephemeral
// container runs with a primary group ID in one of the ranges, as a PodSecurityPolicy's MustRunAs
// did. The ID is the container's securityContext.runAsGroup, else the pod's; with neither, the
// runtime takes the group from the image, which the pod does not show, so that is a violation too.
// Windows pods are exempt: the API server rejects runAsGroup on them.
//
// Reads: spec.os.name, spec.securityContext.runAsGroup,
// spec.{initContainers,containers,ephemeralContainers}[*].securityContext.runAsGroup.
// Allowed: an effective runAsGroup within a range.
var runAsGroup = register(Def[idRanges]{
	ID:   "containers.runAsGroup",
	Name: "Containers run with a group ID in the allowed ranges",
	Compile: func(s *v1alpha1.PolicySpec, spec *field.Path) (*idRanges, field.ErrorList) {
		if s.Containers == nil {
			return nil, nil
		}
		return compileIDRanges(s.Containers.RunAsGroup, spec.Child("containers", "runAsGroup"))
	},
	Check: func(r *idRanges, t *Target, out *Findings) {
		checkContainerIDs(r, &runAsGroupField, t, out)
	},
	CEL: func(r *idRanges) []CELCheck { return celContainerIDs(r, &runAsGroupField) },
})

var runAsGroupField = containerIDField{
	name: "runAsGroup", noun: "group", unset: "with the image's primary group",
	container: func(sc *corev1.SecurityContext) *int64 { return sc.RunAsGroup },
	pod:       func(sc *corev1.PodSecurityContext) *int64 { return sc.RunAsGroup },
}
