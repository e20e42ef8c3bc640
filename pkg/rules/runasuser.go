package rules

import (
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// runAsUser implements spec.containers.runAsUser: every container, init container and ephemeral
// container runs as a user ID in one of the ranges, as a PodSecurityPolicy's MustRunAs did. The ID
// is the container's securityContext.runAsUser, else the pod's; with neither, the container would
// run as the image's user, which the pod does not show, so that is a violation too. Windows pods
// are exempt: the API server rejects runAsUser on them (they name a user with
// windowsOptions.runAsUserName).
//
// Reads: spec.os.name, spec.securityContext.runAsUser,
// spec.{initContainers,containers,ephemeralContainers}[*].securityContext.runAsUser.
// Allowed: an effective runAsUser within a range.
var runAsUser = register(Def[idRanges]{
	ID:   "containers.runAsUser",
	Name: "Containers run as a user ID in the allowed ranges",
	Compile: func(s *v1alpha1.PolicySpec, spec *field.Path) (*idRanges, field.ErrorList) {
		if s.Containers == nil {
			return nil, nil
		}
		return compileIDRanges(s.Containers.RunAsUser, spec.Child("containers", "runAsUser"))
	},
	Check: func(r *idRanges, t *Target, out *Findings) {
		checkContainerIDs(r, &runAsUserField, t, out)
	},
	CEL: func(r *idRanges) []CELCheck { return celContainerIDs(r, &runAsUserField) },
})

var runAsUserField = containerIDField{
	name: "runAsUser", noun: "user", unset: "as the image's user",
	container: func(sc *corev1.SecurityContext) *int64 { return sc.RunAsUser },
	pod:       func(sc *corev1.PodSecurityContext) *int64 { return sc.RunAsUser },
}
