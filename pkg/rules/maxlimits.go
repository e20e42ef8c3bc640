package rules

import (
	"slices"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxLimits implements spec.resources.maxLimits: no container or init container may limit a bounded
// resource above its bound. A container with a request and no limit is held to the bound by its
// request (its limit will default to at least that much). A container with neither is not this
// rule's concern (requireLimits is). A cpu or memory limit of 0 is no limit (see unlimited), so it
// is above any bound. Ephemeral containers are exempt: they cannot set resources.
//
// Reads: spec.{initContainers,containers}[*].resources.{limits,requests}.
// Allowed: limit (or request, without a limit) ≤ the bound, compared exactly; a cpu or memory limit
// above 0.
var maxLimits = register(Def[[]bound]{
	ID:   "resources.maxLimits",
	Name: "Container limits are under the maximums",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*[]bound, field.ErrorList) {
		if s.Resources == nil {
			return nil, nil
		}
		return bounds(s.Resources.MaxLimits), nil
	},
	Check: func(bounds *[]bound, t *Target, out *Findings) {
		for i := range t.Containers() {
			c := &t.Containers()[i]
			if c.Kind == Ephemeral {
				continue
			}
			for _, b := range *bounds {
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
				if list == "limits" && unlimited(b.Name, q) {
					out.Add(Finding{Path: resourcePath(c, list, b.Name), Container: c.Name,
						Message: found(containerOwner(c)+" sets a "+string(b.Name)+" limit of "+q.String()+", which the kubelet reads as no limit",
							"set resources.limits."+string(b.Name)+" above 0 and at most "+bound.String())})
					continue
				}
				if q.Cmp(bound) <= 0 {
					continue
				}
				out.Add(Finding{Path: resourcePath(c, list, b.Name), Container: c.Name,
					Message: found(containerOwner(c)+" "+list+" "+string(b.Name)+" "+q.String()+", above the maximum "+bound.String(),
						"set resources."+list+"."+string(b.Name)+" to at most "+bound.String())})
			}
		}
	},
	CEL: func(b *[]bound) []CELCheck { return celBounded(*b, true) },
})

// bound is a per-resource maximum, of spec.resources.maxLimits or maxLimitRequestRatio.
type bound struct {
	Name  corev1.ResourceName
	Value resource.Quantity
}

// bounds returns the maximums in name order, so that messages and golden files are stable; nil
// when there are none.
func bounds(m map[corev1.ResourceName]resource.Quantity) *[]bound {
	if len(m) == 0 {
		return nil
	}
	out := make([]bound, 0, len(m))
	for n, q := range m {
		out = append(out, bound{Name: n, Value: q})
	}
	slices.SortFunc(out, func(a, b bound) int { return strings.Compare(string(a.Name), string(b.Name)) })
	return &out
}
