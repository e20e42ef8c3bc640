package rules

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

func TestAllowPrivilegeEscalation(t *testing.T) {
	forbid := containerPolicy(t, v1alpha1.ContainerRules{AllowPrivilegeEscalation: v1alpha1.Forbidden})
	ape := func(b bool) containerOpt {
		return secCtx(func(sc *corev1.SecurityContext) { sc.AllowPrivilegeEscalation = ptr.To(b) })
	}
	const fix = "; set securityContext.allowPrivilegeEscalation: false"
	failing := corev1.PodSpec{Containers: []corev1.Container{ctr("a")}}

	runRuleCases(t, allowPrivilegeEscalation, []ruleCase{{
		name:   "no containers section",
		policy: compile(t, v1alpha1.PolicySpec{}),
		target: podTarget(failing),
	}, {
		name:   "Allow",
		policy: containerPolicy(t, v1alpha1.ContainerRules{AllowPrivilegeEscalation: v1alpha1.AllowForbid}),
		target: podTarget(failing),
	}, {
		name:   "false passes",
		policy: forbid,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{ctr("a", ape(false)), ctr("b", ape(false))}}),
	}, {
		name:   "Windows pods are exempt",
		policy: forbid,
		target: podTarget(corev1.PodSpec{OS: windows, Containers: []corev1.Container{ctr("win")}}),
	}, {
		name:   "unset and true",
		policy: forbid,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{ctr("a"), ctr("b", ape(true)), ctr("c", ape(false))}}),
		want: []Finding{
			{Path: "spec.containers[0].securityContext.allowPrivilegeEscalation", Container: "a",
				Message: `container "a" does not set allowPrivilegeEscalation, which defaults to true` + fix},
			{Path: "spec.containers[1].securityContext.allowPrivilegeEscalation", Container: "b",
				Message: `container "b" sets allowPrivilegeEscalation: true` + fix},
		},
	}, {
		name:   "template: init and ephemeral containers",
		policy: forbid,
		target: templateTarget(corev1.PodSpec{
			InitContainers:      []corev1.Container{ctr("init", ape(true))},
			Containers:          []corev1.Container{ctr("app", ape(false))},
			EphemeralContainers: []corev1.EphemeralContainer{ephemeral(ctr("dbg"))},
		}),
		want: []Finding{
			{Path: "spec.template.spec.initContainers[0].securityContext.allowPrivilegeEscalation", Container: "init",
				Message: `container "init" sets allowPrivilegeEscalation: true` + fix},
			{Path: "spec.template.spec.ephemeralContainers[0].securityContext.allowPrivilegeEscalation", Container: "dbg",
				Message: `container "dbg" does not set allowPrivilegeEscalation, which defaults to true` + fix},
		},
	}})
}
