package rules

import (
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// requireRequests implements spec.resources.requireRequests: every container and init container
// requests each listed resource. Ephemeral containers are exempt: the API does not let them set
// resources.
//
// A resource with a limit and no request satisfies the rule. The API server defaults a missing
// request to the limit when it creates the pod; a Pod has been defaulted by the time admission sees
// it, but a Deployment's (or any controller's) pod template has not, and the pods created from it
// will carry the request. Treating both alike gives a workload and its pods the same verdict.
// A request of "0" is set, so it satisfies the rule.
//
// Reads: spec.{initContainers,containers}[*].resources.{requests,limits}.
// Allowed: each listed resource present in requests (or in limits).
var requireRequests = register(Def[[]corev1.ResourceName]{
	ID:   "resources.requireRequests",
	Name: "Containers request the required resources",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*[]corev1.ResourceName, field.ErrorList) {
		if s.Resources == nil || len(s.Resources.RequireRequests) == 0 {
			return nil, nil
		}
		return &s.Resources.RequireRequests, nil
	},
	Check: func(names *[]corev1.ResourceName, t *Target, out *Findings) {
		for i := range t.Containers() {
			c := &t.Containers()[i]
			if c.Kind == Ephemeral {
				continue
			}
			for _, name := range *names {
				if _, ok := c.Resources.Requests[name]; ok {
					continue
				}
				if _, ok := c.Resources.Limits[name]; ok {
					continue // the request defaults to the limit
				}
				out.Add(Finding{Path: resourcePath(c, "requests", name), Container: c.Name,
					Message: found(containerOwner(c)+" has no "+string(name)+" request",
						"set resources.requests."+string(name)+"; every container must request "+quoteList(*names))})
			}
		}
	},
	CEL: func(names *[]corev1.ResourceName) []CELCheck {
		var out []CELCheck
		for _, name := range *names {
			key := "[" + celText(string(name)) + "]"
			allowed := "c.?resources.?requests" + key + ".hasValue() || c.?resources.?limits" + key + ".hasValue()"
			field := strings.TrimPrefix(resourcePath(&Container{}, "requests", name), ".containers[0].")
			out = append(out, celContainerCheck([]ContainerKind{Init, Regular}, allowed, field,
				celOwner+" + "+celText(" has no "+string(name)+" request"),
				"set resources.requests."+string(name)+"; every container must request "+quoteList(*names), "", true)...)
		}
		return out
	},
})

// resourcePath is the field path of a container's resources.<list>.<name>. Names that hold a dot or
// a slash (example.com/gpu) are written as a key, resources.limits[example.com/gpu], as the API
// server's own errors write them, so that the path stays unambiguous.
func resourcePath(c *Container, list string, name corev1.ResourceName) string {
	if strings.ContainsAny(string(name), "./") {
		return c.Path("resources", list+"["+string(name)+"]")
	}
	return c.Path("resources", list, string(name))
}
