package rules

import (
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// hostNamespaces implements spec.containers.hostNamespaces: Forbid denies pods that share the node's
// network, process or IPC namespace. These are pod-level fields, so findings name no container.
//
// Reads: spec.hostNetwork, spec.hostPID, spec.hostIPC.
// Allowed: unset or false.
var hostNamespaces = register(Def[struct{}]{
	ID:   "containers.hostNamespaces",
	Name: "Pods do not share host namespaces",
	Compile: func(s *v1alpha1.PolicySpec, _ *field.Path) (*struct{}, field.ErrorList) {
		return enabled(s.Containers != nil && s.Containers.HostNamespaces == v1alpha1.Forbidden), nil
	},
	Check: func(_ *struct{}, t *Target, out *Findings) {
		s := t.Spec
		if !s.HostNetwork && !s.HostPID && !s.HostIPC {
			return
		}
		for _, ns := range [...]struct {
			set         bool
			field, what string
		}{
			{s.HostNetwork, "hostNetwork", "network"},
			{s.HostPID, "hostPID", "process"},
			{s.HostIPC, "hostIPC", "IPC"},
		} {
			if !ns.set {
				continue
			}
			out.Add(Finding{Path: t.Path(ns.field),
				Message: found("the pod sets "+ns.field+": true, sharing the node's "+ns.what+" namespace",
					"remove "+ns.field+" or set it to false")})
		}
	},
	CEL: func(*struct{}) []CELCheck {
		var out []CELCheck
		for _, ns := range [...]struct{ field, what string }{
			{"hostNetwork", "network"}, {"hostPID", "process"}, {"hostIPC", "IPC"},
		} {
			out = append(out, CELCheck{
				Expression: "!" + CELSpec + ".?" + ns.field + ".orValue(false)",
				MessageExpression: CELSpecPath + " + " + celText("."+ns.field+": "+
					found("the pod sets "+ns.field+": true, sharing the node's "+ns.what+" namespace", "remove "+ns.field+" or set it to false")),
				Exact: true,
			})
		}
		return out
	},
})
