package rules

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

func TestPrivileged(t *testing.T) {
	forbid := containerPolicy(t, v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden})
	priv := secCtx(func(sc *corev1.SecurityContext) { sc.Privileged = ptr.To(true) })
	notPriv := secCtx(func(sc *corev1.SecurityContext) { sc.Privileged = ptr.To(false) })
	failing := corev1.PodSpec{Containers: []corev1.Container{ctr("app"), ctr("debug", priv)}}

	runRuleCases(t, privileged, []ruleCase{{
		name:   "no containers section",
		policy: compile(t, v1alpha1.PolicySpec{}),
		target: podTarget(failing),
	}, {
		name:   "Allow",
		policy: containerPolicy(t, v1alpha1.ContainerRules{Privileged: v1alpha1.AllowForbid}),
		target: podTarget(failing),
	}, {
		name:   "unset and false pass",
		policy: forbid,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{ctr("app"), ctr("side", notPriv)}}),
	}, {
		name:   "privileged container",
		policy: forbid,
		target: podTarget(failing),
		want: []Finding{{Path: "spec.containers[1].securityContext.privileged", Container: "debug",
			Message: `container "debug" sets privileged: true; remove securityContext.privileged or set it to false`}},
	}, {
		name:   "template: init and ephemeral containers",
		policy: forbid,
		target: templateTarget(corev1.PodSpec{
			InitContainers:      []corev1.Container{ctr("init", priv)},
			Containers:          []corev1.Container{ctr("app", notPriv)},
			EphemeralContainers: []corev1.EphemeralContainer{ephemeral(ctr("dbg", priv))},
		}),
		want: []Finding{{Path: "spec.template.spec.initContainers[0].securityContext.privileged", Container: "init",
			Message: `container "init" sets privileged: true; remove securityContext.privileged or set it to false`,
		}, {Path: "spec.template.spec.ephemeralContainers[0].securityContext.privileged", Container: "dbg",
			Message: `container "dbg" sets privileged: true; remove securityContext.privileged or set it to false`}},
	}})
}
