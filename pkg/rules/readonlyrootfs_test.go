package rules

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

func TestReadOnlyRootFilesystem(t *testing.T) {
	require := containerPolicy(t, v1alpha1.ContainerRules{ReadOnlyRootFilesystem: v1alpha1.Required})
	ro := func(b bool) containerOpt {
		return secCtx(func(sc *corev1.SecurityContext) { sc.ReadOnlyRootFilesystem = ptr.To(b) })
	}
	const fix = "; set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where it must write"
	failing := corev1.PodSpec{Containers: []corev1.Container{ctr("a", ro(false))}}

	runRuleCases(t, readOnlyRootFilesystem, []ruleCase{{
		name:   "no containers section",
		policy: compile(t, v1alpha1.PolicySpec{}),
		target: podTarget(failing),
	}, {
		name:   "Allow",
		policy: containerPolicy(t, v1alpha1.ContainerRules{ReadOnlyRootFilesystem: v1alpha1.AllowRequire}),
		target: podTarget(failing),
	}, {
		name:   "true passes",
		policy: require,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{ctr("a", ro(true))}}),
	}, {
		name:   "Windows pods are exempt",
		policy: require,
		target: podTarget(corev1.PodSpec{OS: windows, Containers: []corev1.Container{ctr("win")}}),
	}, {
		name:   "false and unset",
		policy: require,
		target: podTarget(corev1.PodSpec{Containers: []corev1.Container{ctr("a", ro(false)), ctr("b", ro(true)), ctr("c")}}),
		want: []Finding{
			{Path: "spec.containers[0].securityContext.readOnlyRootFilesystem", Container: "a",
				Message: `container "a" sets readOnlyRootFilesystem: false` + fix},
			{Path: "spec.containers[2].securityContext.readOnlyRootFilesystem", Container: "c",
				Message: `container "c" does not set readOnlyRootFilesystem, which defaults to false` + fix},
		},
	}, {
		name:   "template: init and ephemeral containers",
		policy: require,
		target: templateTarget(corev1.PodSpec{
			InitContainers:      []corev1.Container{ctr("init")},
			Containers:          []corev1.Container{ctr("app", ro(true))},
			EphemeralContainers: []corev1.EphemeralContainer{ephemeral(ctr("dbg", ro(false)))},
		}),
		want: []Finding{
			{Path: "spec.template.spec.initContainers[0].securityContext.readOnlyRootFilesystem", Container: "init",
				Message: `container "init" does not set readOnlyRootFilesystem, which defaults to false` + fix},
			{Path: "spec.template.spec.ephemeralContainers[0].securityContext.readOnlyRootFilesystem", Container: "dbg",
				Message: `container "dbg" sets readOnlyRootFilesystem: false` + fix},
		},
	}})
}
