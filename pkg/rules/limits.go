package rules

import (
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// requireLimits implements spec.resources.requireLimits: every container and init container limits
// each listed resource. Ephemeral containers are exempt: the API does not let them set resources.
// Unlike a request, a limit is never defaulted from anything else in the pod spec.
//
// Reads: spec.{initContainers,containers}[*].resources.limits.
// Allowed: each listed resource present in limits.
var requireLimits = register(Def[[]corev1.ResourceName]{
	ID:   "resources.requireLimits",
	Name: "Containers limit the required resources",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*[]corev1.ResourceName, field.ErrorList) {
		if s.Resources == nil || len(s.Resources.RequireLimits) == 0 {
			return nil, nil
		}
		return &s.Resources.RequireLimits, nil
	},
	Check: func(names *[]corev1.ResourceName, t *Target, out *Findings) {
		for i := range t.Containers() {
			c := &t.Containers()[i]
			if c.Kind == Ephemeral {
				continue
			}
			for _, name := range *names {
				if _, ok := c.Resources.Limits[name]; ok {
					continue
				}
				out.Add(Finding{Path: resourcePath(c, "limits", name), Container: c.Name,
					Message: found(containerOwner(c)+" has no "+string(name)+" limit",
						"set resources.limits."+string(name)+"; every container must limit "+quoteList(*names))})
			}
		}
	},
})
