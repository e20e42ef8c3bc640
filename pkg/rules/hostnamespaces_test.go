package rules

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

func TestHostNamespaces(t *testing.T) {
	forbid := containerPolicy(t, v1alpha1.ContainerRules{HostNamespaces: v1alpha1.Forbidden})
	all := corev1.PodSpec{HostNetwork: true, HostPID: true, HostIPC: true,
		InitContainers:      []corev1.Container{ctr("init")},
		Containers:          []corev1.Container{ctr("app")},
		EphemeralContainers: []corev1.EphemeralContainer{ephemeral(ctr("dbg"))},
	}

	runRuleCases(t, hostNamespaces, []ruleCase{{
		name:   "no containers section",
		policy: compile(t, v1alpha1.PolicySpec{}),
		target: podTarget(all),
	}, {
		name:   "Allow",
		policy: containerPolicy(t, v1alpha1.ContainerRules{HostNamespaces: v1alpha1.AllowForbid}),
		target: podTarget(all),
	}, {
		name:   "no host namespaces",
		policy: forbid,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{ctr("app")}}),
	}, {
		name:   "hostPID",
		policy: forbid,
		target: podTarget(corev1.PodSpec{HostPID: true, Containers: []corev1.Container{ctr("app")}}),
		want: []Finding{{Path: "spec.hostPID",
			Message: "the pod sets hostPID: true, sharing the node's process namespace; remove hostPID or set it to false"}},
	}, {
		// Pod-level fields: one finding each, whatever the containers (init and ephemeral included).
		name:   "template: all three",
		policy: forbid,
		target: templateTarget(all),
		want: []Finding{
			{Path: "spec.template.spec.hostNetwork",
				Message: "the pod sets hostNetwork: true, sharing the node's network namespace; remove hostNetwork or set it to false"},
			{Path: "spec.template.spec.hostPID",
				Message: "the pod sets hostPID: true, sharing the node's process namespace; remove hostPID or set it to false"},
			{Path: "spec.template.spec.hostIPC",
				Message: "the pod sets hostIPC: true, sharing the node's IPC namespace; remove hostIPC or set it to false"},
		},
	}})
}
