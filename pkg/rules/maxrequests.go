package rules

import (
	"maps"
	"slices"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxRequests implements spec.resources.maxRequests: no container or init container may request
// more of a bounded resource than its bound. A container with a limit and no request is held to
// the bound by its limit, for the reason requireRequests counts that limit as a request: the API
// server defaults a missing request to the limit when it creates the pod, so a Pod arrives at
// admission with the request set while a Deployment's template does not, and the two get one
// verdict at one path, resources.requests.<name>. A container with neither is not this rule's
// concern (requireRequests is). Ephemeral containers are exempt: they cannot set resources.
//
// Reads: spec.{initContainers,containers}[*].resources.{requests,limits}.
// Allowed: request (or limit, without a request) ≤ the bound, compared exactly.
var maxRequests = register(Def[[]bound]{
	ID:   "resources.maxRequests",
	Name: "Container requests are under the maximums",
	Compile: func(s *v1alpha1.PolicySpec, spec *field.Path) (*[]bound, field.ErrorList) {
		if s.Resources == nil {
			return nil, nil
		}
		m := s.Resources.MaxRequests
		path := spec.Child("resources", "maxRequests")
		var errs field.ErrorList
		for _, n := range slices.Sorted(maps.Keys(m)) {
			p := path.Key(string(n))
			for _, msg := range resourceNameErrors(n) {
				errs = append(errs, field.Invalid(p, n, msg))
			}
			if q := m[n]; q.Sign() <= 0 {
				errs = append(errs, field.Invalid(p, q.String(), "must be greater than zero"))
			}
		}
		if len(errs) > 0 {
			return nil, errs
		}
		return bounds(m), nil
	},
	Check: func(bounds *[]bound, t *Target, out *Findings) {
		for i := range t.Containers() {
			c := &t.Containers()[i]
			if c.Kind == Ephemeral {
				continue
			}
			for _, b := range *bounds {
				from := ""
				q, ok := c.Resources.Requests[b.Name]
				if !ok {
					if q, ok = c.Resources.Limits[b.Name]; !ok {
						continue
					}
					from = " (its limit, which the request defaults to)"
				}
				// q and bound are copies: Cmp and String may convert or cache in place, and the
				// policy is shared between goroutines.
				bound := b.Value
				if q.Cmp(bound) <= 0 {
					continue
				}
				fix := "set resources.requests." + string(b.Name) + " to at most " + bound.String()
				if from != "" {
					fix += "; the limit may stay higher"
				}
				out.Add(Finding{Path: resourcePath(c, "requests", b.Name), Container: c.Name,
					Message: found(containerOwner(c)+" requests "+string(b.Name)+" "+q.String()+from+", above the maximum "+bound.String(), fix)})
			}
		}
	},
	CEL: func(b *[]bound) []CELCheck { return celBounded(*b, false) },
})

// resourceNameErrors says what is wrong with a resource name a policy bounds: a standard name (cpu)
// is a DNS subdomain, an extended one (example.com/gpu) a qualified name.
func resourceNameErrors(n corev1.ResourceName) []string {
	switch {
	case n == "":
		return []string{"name a resource, e.g. cpu or memory"}
	case strings.Contains(string(n), "/"):
		return validation.IsQualifiedName(string(n))
	default:
		return validation.IsDNS1123Subdomain(string(n))
	}
}
