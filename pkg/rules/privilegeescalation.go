package rules

import (
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// allowPrivilegeEscalation implements spec.containers.allowPrivilegeEscalation: Forbid requires every
// container to set allowPrivilegeEscalation=false explicitly, as the restricted Pod Security Standard
// does: left unset, a setuid binary in the image can gain privileges (no_new_privs is not set).
//
// Pods with spec.os.name=windows are exempt, as in the restricted standard: the API server rejects
// the field on Windows pods, so they could never comply.
//
// Reads: spec.os.name, spec.{initContainers,containers,ephemeralContainers}[*].securityContext.allowPrivilegeEscalation.
// Allowed: false. Unset and true are violations.
var allowPrivilegeEscalation = register(Def[struct{}]{
	ID:   "containers.allowPrivilegeEscalation",
	Name: "Containers set allowPrivilegeEscalation: false",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*struct{}, field.ErrorList) {
		return enabled(s.Containers != nil && s.Containers.AllowPrivilegeEscalation == v1alpha1.Forbidden), nil
	},
	Check: func(_ *struct{}, t *Target, out *Findings) {
		if windowsPod(t.Spec) {
			return
		}
		for i := range t.Containers() {
			c := &t.Containers()[i]
			var ape *bool
			if c.SecurityContext != nil {
				ape = c.SecurityContext.AllowPrivilegeEscalation
			}
			if ape != nil && !*ape {
				continue
			}
			what := containerOwner(c) + " does not set allowPrivilegeEscalation, which defaults to true"
			if ape != nil {
				what = containerOwner(c) + " sets allowPrivilegeEscalation: true"
			}
			out.Add(Finding{Path: c.Path("securityContext", "allowPrivilegeEscalation"), Container: c.Name,
				Message: found(what, "set securityContext.allowPrivilegeEscalation: false")})
		}
	},
	CEL: func(*struct{}) []CELCheck {
		return celContainerCheck(celLists, "c.?securityContext.?allowPrivilegeEscalation.orValue(true) == false",
			"securityContext.allowPrivilegeEscalation",
			celOwner+" + (c.?securityContext.?allowPrivilegeEscalation.hasValue() ? ' sets allowPrivilegeEscalation: true' : "+
				"' does not set allowPrivilegeEscalation, which defaults to true')",
			"set securityContext.allowPrivilegeEscalation: false", celWindows, true)
	},
})

// windowsPod reports whether the pod declares spec.os.name=windows. The API server forbids the Linux
// security fields (allowPrivilegeEscalation, capabilities, readOnlyRootFilesystem, ...) on such pods,
// and the kubelet refuses to run them on a node of another OS.
func windowsPod(spec *corev1.PodSpec) bool {
	return spec.OS != nil && spec.OS.Name == corev1.Windows
}
