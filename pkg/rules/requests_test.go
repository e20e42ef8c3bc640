package rules

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

func TestRequireRequests(t *testing.T) {
	pol := resourcePolicy(t, v1alpha1.ResourceRules{RequireRequests: []corev1.ResourceName{"cpu", "memory"}})
	const fix = `; every container must request "cpu", "memory"`
	failing := corev1.PodSpec{Containers: []corev1.Container{ctr("app")}}

	runRuleCases(t, requireRequests, []ruleCase{{
		name:   "no resources section",
		policy: compile(t, v1alpha1.PolicySpec{}),
		target: podTarget(failing),
	}, {
		name:   "no required requests",
		policy: resourcePolicy(t, v1alpha1.ResourceRules{RequireLimits: []corev1.ResourceName{"cpu"}}),
		target: podTarget(failing),
	}, {
		name:   "requests set, or defaulted from limits",
		policy: pol,
		target: templateTarget(corev1.PodSpec{Containers: []corev1.Container{
			ctr("a", requests("cpu", "100m", "memory", "64Mi")),
			ctr("b", limits("cpu", "1", "memory", "1Gi")),
			ctr("c", requests("cpu", "0"), limits("memory", "1Gi")),
		}}),
	}, {
		name:   "missing requests",
		policy: pol,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{
			ctr("a", requests("cpu", "100m")),
			ctr("b", limits("cpu", "1")),
		}}),
		want: []Finding{
			{Path: "spec.containers[0].resources.requests.memory", Container: "a",
				Message: `container "a" has no memory request; set resources.requests.memory` + fix},
			{Path: "spec.containers[1].resources.requests.memory", Container: "b",
				Message: `container "b" has no memory request; set resources.requests.memory` + fix},
		},
	}, {
		name:   "extended resource name is written as a key",
		policy: resourcePolicy(t, v1alpha1.ResourceRules{RequireRequests: []corev1.ResourceName{"example.com/gpu"}}),
		target: podTarget(failing),
		want: []Finding{{Path: "spec.containers[0].resources.requests[example.com/gpu]", Container: "app",
			Message: `container "app" has no example.com/gpu request; set resources.requests.example.com/gpu; every container must request "example.com/gpu"`}},
	}, {
		name:   "template: init container checked, ephemeral container exempt",
		policy: pol,
		target: templateTarget(corev1.PodSpec{
			InitContainers:      []corev1.Container{ctr("init", requests("memory", "1Gi"))},
			Containers:          []corev1.Container{ctr("app", requests("cpu", "1", "memory", "1Gi"))},
			EphemeralContainers: []corev1.EphemeralContainer{ephemeral(ctr("dbg"))},
		}),
		want: []Finding{{Path: "spec.template.spec.initContainers[0].resources.requests.cpu", Container: "init",
			Message: `container "init" has no cpu request; set resources.requests.cpu` + fix}},
	}})
}
