package rules

import (
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// requireLimits implements spec.resources.requireLimits: every container and init container limits
// each listed resource. Ephemeral containers are exempt: the API does not let them set resources.
// Unlike a request, a limit is never defaulted from anything else in the pod spec. A cpu or memory
// limit of 0 is no limit: the API server accepts it, and the kubelet then sets no CFS quota and no
// memory limit (unlimited), so it is reported like a missing one.
//
// Reads: spec.{initContainers,containers}[*].resources.limits.
// Allowed: each listed resource present in limits, and for cpu and memory above 0.
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
				q, ok := c.Resources.Limits[name]
				if ok && !unlimited(name, q) {
					continue
				}
				what, fix := containerOwner(c)+" has no "+string(name)+" limit", "set resources.limits."+string(name)
				if ok {
					what = containerOwner(c) + " sets a " + string(name) + " limit of " + q.String() + ", which the kubelet reads as no limit"
					fix += " above 0"
				}
				out.Add(Finding{Path: resourcePath(c, "limits", name), Container: c.Name,
					Message: found(what, fix+"; every container must limit "+quoteList(*names))})
			}
		}
	},
	CEL: func(names *[]corev1.ResourceName) []CELCheck {
		var out []CELCheck
		for _, name := range *names {
			limit := "c.?resources.?limits[" + celText(string(name)) + "]"
			allowed := limit + ".hasValue()"
			if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
				allowed += " && sign(quantity(" + celQuantityText(limit) + ")) != 0"
			}
			field := strings.TrimPrefix(resourcePath(&Container{}, "limits", name), ".containers[0].")
			every := "; every container must limit " + quoteList(*names)
			out = append(out, celEach([]ContainerKind{Init, Regular}, allowed, func(path string) string {
				return path + " + " + celText("."+field+": ") + " + " + celOwner + " + (" + limit + ".hasValue() ? " +
					celText(" sets a "+string(name)+" limit of ") + " + " + celQuantityText(limit) + " + " +
					celText(", which the kubelet reads as no limit; set resources.limits."+string(name)+" above 0"+every) + " : " +
					celText(" has no "+string(name)+" limit; set resources.limits."+string(name)+every) + ")"
			}, "", true)...)
		}
		return out
	},
})

// unlimited reports whether a limit of q on resource name is no limit at all: a cpu or memory limit
// of 0, which the kubelet applies as no CFS quota and no memory limit. A limit of 0 on an extended
// resource (nvidia.com/gpu: 0) is a real limit: none of it.
func unlimited(name corev1.ResourceName, q resource.Quantity) bool {
	return (name == corev1.ResourceCPU || name == corev1.ResourceMemory) && q.IsZero()
}
