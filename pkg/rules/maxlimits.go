package rules

import (
	"github.com/sealgate/sealgate/pkg/policy"
)

// maxLimits implements spec.resources.maxLimits: no container or init container may limit a bounded
// resource above its bound. A container with a request and no limit is held to the bound by its
// request (its limit will default to at least that much). A container with neither is not this
// rule's concern (requireLimits is). Ephemeral containers are exempt: they cannot set resources.
//
// Reads: spec.{initContainers,containers}[*].resources.{limits,requests}.
// Allowed: limit (or request, without a limit) ≤ the bound, compared exactly.
var maxLimits = Rule{
	ID:   "resources.maxLimits",
	Name: "Container limits are under the maximums",
	Check: func(p *policy.Policy, t *Target, out *Findings) {
		if p.Resources == nil || len(p.Resources.MaxLimits) == 0 {
			return
		}
		for i := range t.Containers() {
			c := &t.Containers()[i]
			if c.Kind == Ephemeral {
				continue
			}
			for _, b := range p.Resources.MaxLimits {
				list := "limits"
				q, ok := c.Resources.Limits[b.Name]
				if !ok {
					list = "requests"
					if q, ok = c.Resources.Requests[b.Name]; !ok {
						continue
					}
				}
				// q and bound are copies: Cmp and String may convert or cache in place, and the
				// policy is shared between goroutines.
				bound := b.Value
				if q.Cmp(bound) <= 0 {
					continue
				}
				out.Add(Finding{Path: resourcePath(c, list, b.Name), Container: c.Name,
					Message: found(containerOwner(c)+" "+list+" "+string(b.Name)+" "+q.String()+", above the maximum "+bound.String(),
						"set resources."+list+"."+string(b.Name)+" to at most "+bound.String())})
			}
		}
	},
}
