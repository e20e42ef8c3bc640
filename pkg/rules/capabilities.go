package rules

import (
	"slices"
	"strconv"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// capabilities implements spec.containers.capabilities, two checks on Linux capabilities:
//
//   - requireDropAll: securityContext.capabilities.drop must contain "ALL" (exactly, as the restricted
//     Pod Security Standard compares it). Pods with spec.os.name=windows are exempt, as in that
//     standard: the API server rejects capabilities on Windows pods.
//   - allowedAdd: every entry of securityContext.capabilities.add must be listed in allowedAdd; with
//     allowedAdd unset, nothing may be added. The container runtime accepts names with and without
//     the "CAP_" prefix, so that prefix is stripped from the container's value before comparing;
//     the comparison is otherwise case-sensitive, so "net_admin" is never allowed. "ALL" in add is
//     allowed only if allowedAdd lists "ALL". One disallowed entry is reported at its index; several
//     are reported as one finding at the add list, with their count and the first few.
//
// Reads: spec.os.name, spec.{initContainers,containers,ephemeralContainers}[*].securityContext.capabilities.{drop,add}.
var capabilities = register(Def[capabilityRules]{
	ID:   "containers.capabilities",
	Name: "Containers drop all capabilities and add only allowed ones",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*capabilityRules, field.ErrorList) {
		if s.Containers == nil || s.Containers.Capabilities == nil {
			return nil, nil
		}
		c := s.Containers.Capabilities
		return &capabilityRules{RequireDropAll: c.RequireDropAll, AllowedAdd: c.AllowedAdd}, nil
	},
	Check: func(cr *capabilityRules, t *Target, out *Findings) {
		dropAll := cr.RequireDropAll && !windowsPod(t.Spec)
		for i := range t.Containers() {
			c := &t.Containers()[i]
			var caps *corev1.Capabilities
			if c.SecurityContext != nil {
				caps = c.SecurityContext.Capabilities
			}
			if dropAll && (caps == nil || !slices.Contains(caps.Drop, "ALL")) {
				out.Add(Finding{Path: c.Path("securityContext", "capabilities", "drop"), Container: c.Name,
					Message: found(containerOwner(c)+" does not drop ALL capabilities",
						`add "ALL" to securityContext.capabilities.drop and add back only the capabilities it needs`)})
			}
			if caps == nil {
				continue
			}
			var bad entries
			for j, add := range caps.Add {
				name := corev1.Capability(strings.TrimPrefix(string(add), "CAP_"))
				if !slices.Contains(cr.AllowedAdd, name) {
					bad.add(j, string(add))
				}
			}
			if bad.n == 0 {
				continue
			}
			allowed := "no capability may be added"
			if len(cr.AllowedAdd) > 0 {
				allowed = "only " + quoteList(cr.AllowedAdd) + " may be added (upper case, with or without CAP_)"
			}
			if bad.n == 1 {
				out.Add(Finding{Path: c.Path("securityContext", "capabilities", "add["+strconv.Itoa(bad.index)+"]"), Container: c.Name,
					Message: found(containerOwner(c)+" adds capability "+quote(bad.first[0]), allowed+"; remove it")})
				continue
			}
			out.Add(Finding{Path: c.Path("securityContext", "capabilities", "add"), Container: c.Name,
				Message: found(containerOwner(c)+" adds "+count(bad.n, "capability", "capabilities")+" that are not allowed: "+bad.values(),
					allowed+"; remove them")})
		}
	},
})

// capabilityRules is the compiled spec.containers.capabilities: with it set, only AllowedAdd may be
// added.
type capabilityRules struct {
	RequireDropAll bool
	AllowedAdd     []corev1.Capability
}
