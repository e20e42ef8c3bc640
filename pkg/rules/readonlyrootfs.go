package rules

import (
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// readOnlyRootFilesystem implements spec.containers.readOnlyRootFilesystem: Require requires every
// container's root filesystem to be read-only, so that a compromised process cannot change the
// image's binaries; writable paths come from volumes (emptyDir).
//
// Pods with spec.os.name=windows are exempt: the API server rejects the field on Windows pods.
//
// Reads: spec.os.name, spec.{initContainers,containers,ephemeralContainers}[*].securityContext.readOnlyRootFilesystem.
// Allowed: true. Unset and false are violations.
var readOnlyRootFilesystem = register(Def[struct{}]{
	ID:   "containers.readOnlyRootFilesystem",
	Name: "Containers have a read-only root filesystem",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*struct{}, field.ErrorList) {
		return enabled(s.Containers != nil && s.Containers.ReadOnlyRootFilesystem == v1alpha1.Required), nil
	},
	Check: func(_ *struct{}, t *Target, out *Findings) {
		if windowsPod(t.Spec) {
			return
		}
		for i := range t.Containers() {
			c := &t.Containers()[i]
			var ro *bool
			if c.SecurityContext != nil {
				ro = c.SecurityContext.ReadOnlyRootFilesystem
			}
			if ro != nil && *ro {
				continue
			}
			what := containerOwner(c) + " does not set readOnlyRootFilesystem, which defaults to false"
			if ro != nil {
				what = containerOwner(c) + " sets readOnlyRootFilesystem: false"
			}
			out.Add(Finding{Path: c.Path("securityContext", "readOnlyRootFilesystem"), Container: c.Name,
				Message: found(what, "set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where it must write")})
		}
	},
	CEL: func(*struct{}) []CELCheck {
		return celContainerCheck(celLists, "c.?securityContext.?readOnlyRootFilesystem.orValue(false)",
			"securityContext.readOnlyRootFilesystem",
			celOwner+" + (c.?securityContext.?readOnlyRootFilesystem.hasValue() ? ' sets readOnlyRootFilesystem: false' : "+
				"' does not set readOnlyRootFilesystem, which defaults to false')",
			"set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where it must write", celWindows, true)
	},
})
