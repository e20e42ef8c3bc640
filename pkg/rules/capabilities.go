package rules

import (
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/sealgate/sealgate/pkg/policy"
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
var capabilities = Rule{
	ID:   "containers.capabilities",
	Name: "Containers drop all capabilities and add only allowed ones",
	Check: func(p *policy.Policy, t *Target, out *Findings) {
		if p.Containers == nil || !p.Containers.RequireDropAll && !p.Containers.RestrictAdd {
			return
		}
		dropAll := p.Containers.RequireDropAll && !windowsPod(t.Spec)
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
			if !p.Containers.RestrictAdd || caps == nil {
				continue
			}
			var bad entries
			for j, add := range caps.Add {
				name := corev1.Capability(strings.TrimPrefix(string(add), "CAP_"))
				if !slices.Contains(p.Containers.AllowedAdd, name) {
					bad.add(j, string(add))
				}
			}
			if bad.n == 0 {
				continue
			}
			allowed := "no capability may be added"
			if len(p.Containers.AllowedAdd) > 0 {
				allowed = "only " + quoteList(p.Containers.AllowedAdd) + " may be added (upper case, with or without CAP_)"
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
}
