package rules

import (
	"github.com/sealgate/sealgate/pkg/policy"
)

// hostNamespaces implements spec.containers.hostNamespaces: Forbid denies pods that share the node's
// network, process or IPC namespace. These are pod-level fields, so findings name no container.
//
// Reads: spec.hostNetwork, spec.hostPID, spec.hostIPC.
// Allowed: unset or false.
var hostNamespaces = Rule{
	ID:   "containers.hostNamespaces",
	Name: "Pods do not share host namespaces",
	Check: func(p *policy.Policy, t *Target, out *Findings) {
		if p.Containers == nil || !p.Containers.HostNamespaces {
			return
		}
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
}
