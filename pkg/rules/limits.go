package rules

import (
	"github.com/sealgate/sealgate/pkg/policy"
)

// requireLimits implements spec.resources.requireLimits: every container and init container limits
// each listed resource. Ephemeral containers are exempt: the API does not let them set resources.
// Unlike a request, a limit is never defaulted from anything else in the pod spec.
//
// Reads: spec.{initContainers,containers}[*].resources.limits.
// Allowed: each listed resource present in limits.
var requireLimits = Rule{
	ID:   "resources.requireLimits",
	Name: "Containers limit the required resources",
	Check: func(p *policy.Policy, t *Target, out *Findings) {
		if p.Resources == nil || len(p.Resources.RequireLimits) == 0 {
			return
		}
		for i := range t.Containers() {
			c := &t.Containers()[i]
			if c.Kind == Ephemeral {
				continue
			}
			for _, name := range p.Resources.RequireLimits {
				if _, ok := c.Resources.Limits[name]; ok {
					continue
				}
				out.Add(Finding{Path: resourcePath(c, "limits", name), Container: c.Name,
					Message: found(containerOwner(c)+" has no "+string(name)+" limit",
						"set resources.limits."+string(name)+"; every container must limit "+quoteList(p.Resources.RequireLimits))})
			}
		}
	},
}
