package rules

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

func TestMaxLimits(t *testing.T) {
	pol := resourcePolicy(t, v1alpha1.ResourceRules{MaxLimits: map[corev1.ResourceName]resource.Quantity{
		"cpu": resource.MustParse("4"), "memory": resource.MustParse("8Gi"),
	}})
	failing := corev1.PodSpec{Containers: []corev1.Container{ctr("app", limits("memory", "16Gi"))}}

	runRuleCases(t, maxLimits, []ruleCase{{
		name:   "no resources section",
		policy: compile(t, v1alpha1.PolicySpec{}),
		target: podTarget(failing),
	}, {
		name:   "no maximums",
		policy: resourcePolicy(t, v1alpha1.ResourceRules{RequireLimits: []corev1.ResourceName{"memory"}}),
		target: podTarget(failing),
	}, {
		name:   "at or under the maximums, in other units, or unset",
		policy: pol,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{
			ctr("a", limits("cpu", "4", "memory", "8Gi")),
			ctr("b", limits("cpu", "4000m", "memory", "8192Mi")),
			ctr("c", requests("cpu", "3500m", "memory", "1Gi")),
			ctr("d"),
		}}),
	}, {
		name:   "limits over, request over without a limit",
		policy: pol,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{
			ctr("a", limits("cpu", "4001m", "memory", "16Gi")),
			ctr("b", requests("memory", "9Gi"), limits("cpu", "1")),
		}}),
		want: []Finding{
			{Path: "spec.containers[0].resources.limits.cpu", Container: "a",
				Message: `container "a" limits cpu 4001m, above the maximum 4; set resources.limits.cpu to at most 4`},
			{Path: "spec.containers[0].resources.limits.memory", Container: "a",
				Message: `container "a" limits memory 16Gi, above the maximum 8Gi; set resources.limits.memory to at most 8Gi`},
			{Path: "spec.containers[1].resources.requests.memory", Container: "b",
				Message: `container "b" requests memory 9Gi, above the maximum 8Gi; set resources.requests.memory to at most 8Gi`},
		},
	}, {
		name:   "template: init container checked, ephemeral container exempt",
		policy: pol,
		target: templateTarget(corev1.PodSpec{
			InitContainers:      []corev1.Container{ctr("init", limits("memory", "8589934593"))},
			Containers:          []corev1.Container{ctr("app", limits("memory", "8Gi"))},
			EphemeralContainers: []corev1.EphemeralContainer{ephemeral(ctr("dbg", limits("memory", "64Gi")))},
		}),
		want: []Finding{{Path: "spec.template.spec.initContainers[0].resources.limits.memory", Container: "init",
			Message: `container "init" limits memory 8589934593, above the maximum 8Gi; set resources.limits.memory to at most 8Gi`}},
	}})
}
