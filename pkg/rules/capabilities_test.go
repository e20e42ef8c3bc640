package rules

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

func TestCapabilities(t *testing.T) {
	rules := func(dropAll bool, allowed ...corev1.Capability) v1alpha1.ContainerRules {
		return v1alpha1.ContainerRules{Capabilities: &v1alpha1.CapabilityRules{RequireDropAll: dropAll, AllowedAdd: allowed}}
	}
	strict := containerPolicy(t, rules(true, "NET_BIND_SERVICE"))
	caps := func(drop []corev1.Capability, add ...corev1.Capability) containerOpt {
		return secCtx(func(sc *corev1.SecurityContext) { sc.Capabilities = &corev1.Capabilities{Drop: drop, Add: add} })
	}
	dropAll := []corev1.Capability{"ALL"}
	const dropFix = `; add "ALL" to securityContext.capabilities.drop and add back only the capabilities it needs`
	const dropMsg = ` does not drop ALL capabilities` + dropFix
	const onlyNBS = `; only "NET_BIND_SERVICE" may be added; remove it`
	failing := corev1.PodSpec{Containers: []corev1.Container{ctr("app", caps(nil, "SYS_ADMIN"))}}

	runRuleCases(t, capabilities, []ruleCase{{
		name:   "no containers section",
		policy: compile(t, v1alpha1.PolicySpec{}),
		target: podTarget(failing),
	}, {
		name:   "no capabilities section",
		policy: containerPolicy(t, v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden}),
		target: podTarget(failing),
	}, {
		name:   "drop ALL, add allowed with and without CAP_",
		policy: strict,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{
			ctr("a", caps(dropAll)),
			ctr("b", caps([]corev1.Capability{"NET_RAW", "ALL"}, "NET_BIND_SERVICE", "CAP_NET_BIND_SERVICE")),
		}}),
	}, {
		name:   "drop not required: only add is checked",
		policy: containerPolicy(t, rules(false, "NET_BIND_SERVICE")),
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{ctr("a"), ctr("b", caps(nil, "NET_BIND_SERVICE"))}}),
	}, {
		name:   "ALL may be added when allowedAdd lists it",
		policy: containerPolicy(t, rules(false, "ALL")),
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{ctr("a", caps(nil, "ALL", "CAP_ALL"))}}),
	}, {
		name:   "Windows pods are exempt from drop ALL",
		policy: strict,
		target: podTarget(corev1.PodSpec{OS: windows, Containers: []corev1.Container{ctr("win")}}),
	}, {
		name:   "missing drop, lower-case all, denied adds (a lower-case add is its capability)",
		policy: strict,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{
			ctr("a"),
			ctr("b", caps([]corev1.Capability{"all"})),
			ctr("c", caps(dropAll, "NET_BIND_SERVICE", "CAP_NET_ADMIN", "ALL", "net_bind_service")),
		}}),
		want: []Finding{
			{Path: "spec.containers[0].securityContext.capabilities.drop", Container: "a", Message: `container "a"` + dropMsg},
			{Path: "spec.containers[1].securityContext.capabilities.drop", Container: "b",
				Message: `container "b" does not drop ALL capabilities (it drops "all": only upper-case names without "CAP_" count)` + dropFix},
			{Path: "spec.containers[2].securityContext.capabilities.add", Container: "c",
				Message: `container "c" adds 2 capabilities that are not allowed: "CAP_NET_ADMIN", "ALL"` +
					`; only "NET_BIND_SERVICE" may be added; remove them`},
		},
	}, {
		name:   "empty allowedAdd allows no add, even on Windows pods",
		policy: containerPolicy(t, rules(true)),
		target: podTarget(corev1.PodSpec{OS: windows, Containers: []corev1.Container{ctr("a", caps(nil, "NET_BIND_SERVICE"))}}),
		want: []Finding{{Path: "spec.containers[0].securityContext.capabilities.add[0]", Container: "a",
			Message: `container "a" adds capability "NET_BIND_SERVICE"; no capability may be added; remove it`}},
	}, {
		name:   "template: init and ephemeral containers",
		policy: strict,
		target: templateTarget(corev1.PodSpec{
			InitContainers:      []corev1.Container{ctr("init", caps(dropAll, "SYS_ADMIN"))},
			Containers:          []corev1.Container{ctr("app", caps(dropAll))},
			EphemeralContainers: []corev1.EphemeralContainer{ephemeral(ctr("dbg", caps(nil, "SYS_PTRACE")))},
		}),
		want: []Finding{
			{Path: "spec.template.spec.initContainers[0].securityContext.capabilities.add[0]", Container: "init",
				Message: `container "init" adds capability "SYS_ADMIN"` + onlyNBS},
			{Path: "spec.template.spec.ephemeralContainers[0].securityContext.capabilities.drop", Container: "dbg",
				Message: `container "dbg"` + dropMsg},
			{Path: "spec.template.spec.ephemeralContainers[0].securityContext.capabilities.add[0]", Container: "dbg",
				Message: `container "dbg" adds capability "SYS_PTRACE"` + onlyNBS},
		},
	}})
}
