package rules

import (
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// privileged implements spec.containers.privileged: Forbid denies privileged containers. A privileged
// container has every capability and every host device: it is root on the node.
//
// Reads: spec.{initContainers,containers,ephemeralContainers}[*].securityContext.privileged.
// Allowed: unset or false.
var privileged = register(Def[struct{}]{
	ID:   "containers.privileged",
	Name: "Containers are not privileged",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*struct{}, field.ErrorList) {
		return enabled(s.Containers != nil && s.Containers.Privileged == v1alpha1.Forbidden), nil
	},
	Check: func(_ *struct{}, t *Target, out *Findings) {
		for i := range t.Containers() {
			c := &t.Containers()[i]
			if sc := c.SecurityContext; sc == nil || sc.Privileged == nil || !*sc.Privileged {
				continue
			}
			out.Add(Finding{Path: c.Path("securityContext", "privileged"), Container: c.Name,
				Message: found(containerOwner(c)+" sets privileged: true",
					"remove securityContext.privileged or set it to false")})
		}
	},
	CEL: func(*struct{}) []CELCheck {
		return celContainerCheck(celLists, "!c.?securityContext.?privileged.orValue(false)", "securityContext.privileged",
			celOwner+" + ' sets privileged: true'", "remove securityContext.privileged or set it to false", "", true)
	},
})

// containerOwner names a container in messages, as Image.Owner does: `container "app"`. The
// container rules all use it so that their messages read alike.
func containerOwner(c *Container) string {
	return "container " + quote(c.Name)
}
