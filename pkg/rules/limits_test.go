package rules

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

func TestRequireLimits(t *testing.T) {
	pol := resourcePolicy(t, v1alpha1.ResourceRules{RequireLimits: []corev1.ResourceName{"memory"}})
	const fix = `; every container must limit "memory"`
	failing := corev1.PodSpec{Containers: []corev1.Container{ctr("app")}}

	runRuleCases(t, requireLimits, []ruleCase{{
		name:   "no resources section",
		policy: compile(t, v1alpha1.PolicySpec{}),
		target: podTarget(failing),
	}, {
		name:   "no required limits",
		policy: resourcePolicy(t, v1alpha1.ResourceRules{RequireRequests: []corev1.ResourceName{"cpu"}}),
		target: podTarget(failing),
	}, {
		name:   "limits set",
		policy: pol,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{ctr("a", limits("memory", "1Gi"))}}),
	}, {
		name:   "a request is not a limit",
		policy: pol,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{
			ctr("a", limits("memory", "1Gi")),
			ctr("b", requests("memory", "1Gi"), limits("cpu", "1")),
		}}),
		want: []Finding{{Path: "spec.containers[1].resources.limits.memory", Container: "b",
			Message: `container "b" has no memory limit; set resources.limits.memory` + fix}},
	}, {
		name:   "template: init container checked, ephemeral container exempt",
		policy: pol,
		target: templateTarget(corev1.PodSpec{
			InitContainers:      []corev1.Container{ctr("init")},
			Containers:          []corev1.Container{ctr("app", limits("memory", "1Gi"))},
			EphemeralContainers: []corev1.EphemeralContainer{ephemeral(ctr("dbg"))},
		}),
		want: []Finding{{Path: "spec.template.spec.initContainers[0].resources.limits.memory", Container: "init",
			Message: `container "init" has no memory limit; set resources.limits.memory` + fix}},
	}})
}
