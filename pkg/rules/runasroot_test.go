package rules

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

func TestRunAsRoot(t *testing.T) {
	forbid := containerPolicy(t, v1alpha1.ContainerRules{RunAsRoot: v1alpha1.Forbidden})
	uid := func(u int64) containerOpt {
		return secCtx(func(sc *corev1.SecurityContext) { sc.RunAsUser = ptr.To(u) })
	}
	nonRoot := func(b bool) containerOpt {
		return secCtx(func(sc *corev1.SecurityContext) { sc.RunAsNonRoot = ptr.To(b) })
	}
	pod := func(psc *corev1.PodSecurityContext, cs ...corev1.Container) corev1.PodSpec {
		return corev1.PodSpec{SecurityContext: psc, Containers: cs}
	}
	const unsetFix = "set securityContext.runAsNonRoot: true on the container or the pod, or a non-zero runAsUser"
	const zeroFix = "set runAsUser to a non-zero UID, or remove it and set runAsNonRoot: true"
	unset := func(name string) string {
		return `container "` + name + `" sets neither runAsNonRoot nor runAsUser, so it runs as the image's user, which may be root; ` + unsetFix
	}

	runRuleCases(t, runAsRoot, []ruleCase{{
		name:   "no containers section",
		policy: compile(t, v1alpha1.PolicySpec{}),
		target: podTarget(pod(nil, ctr("app", uid(0)))),
	}, {
		name:   "Allow",
		policy: containerPolicy(t, v1alpha1.ContainerRules{RunAsRoot: v1alpha1.AllowForbid}),
		target: podTarget(pod(nil, ctr("app", uid(0)))),
	}, {
		name:   "pod-level runAsNonRoot",
		policy: forbid,
		target: podTarget(pod(&corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}, ctr("a"), ctr("b"))),
	}, {
		name:   "container runAsNonRoot and non-zero runAsUser",
		policy: forbid,
		target: podTarget(pod(nil, ctr("a", nonRoot(true)), ctr("b", uid(1000)))),
	}, {
		name:   "pod-level non-zero runAsUser",
		policy: forbid,
		target: podTarget(pod(&corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)}, ctr("a"))),
	}, {
		name:   "container runAsUser overrides pod-level 0",
		policy: forbid,
		target: podTarget(pod(&corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0)}, ctr("a", uid(1000)))),
	}, {
		name:   "Windows pod with runAsNonRoot",
		policy: forbid,
		target: podTarget(corev1.PodSpec{OS: windows, SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)},
			Containers: []corev1.Container{ctr("win")}}),
	}, {
		name:   "container runAsUser 0",
		policy: forbid,
		target: podTarget(pod(nil, ctr("ok", uid(1)), ctr("root", uid(0)))),
		want: []Finding{{Path: "spec.containers[1].securityContext.runAsUser", Container: "root",
			Message: `container "root" sets runAsUser: 0 (root); ` + zeroFix}},
	}, {
		name:   "runAsUser 0 with runAsNonRoot",
		policy: forbid,
		target: podTarget(pod(&corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}, ctr("root", uid(0)))),
		want: []Finding{{Path: "spec.containers[0].securityContext.runAsUser", Container: "root",
			Message: `container "root" sets runAsUser: 0 (root); ` + zeroFix}},
	}, {
		name:   "pod-level runAsUser 0",
		policy: forbid,
		target: templateTarget(pod(&corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0)}, ctr("a"), ctr("b", uid(2)))),
		want: []Finding{{Path: "spec.template.spec.securityContext.runAsUser", Container: "a",
			Message: `container "a" runs as user 0 (root), set by the pod's securityContext.runAsUser; ` + zeroFix}},
	}, {
		name:   "container runAsNonRoot false overrides pod",
		policy: forbid,
		target: podTarget(pod(&corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}, ctr("a", nonRoot(false)))),
		want: []Finding{{Path: "spec.containers[0].securityContext.runAsNonRoot", Container: "a",
			Message: `container "a" sets runAsNonRoot: false and no runAsUser; ` + unsetFix}},
	}, {
		name:   "pod-level runAsNonRoot false",
		policy: forbid,
		target: podTarget(pod(&corev1.PodSecurityContext{RunAsNonRoot: ptr.To(false)}, ctr("a"))),
		want: []Finding{{Path: "spec.containers[0].securityContext.runAsNonRoot", Container: "a",
			Message: `container "a" has runAsNonRoot: false from the pod's securityContext and no runAsUser; ` + unsetFix}},
	}, {
		name:   "template: nothing set on init, regular and ephemeral containers",
		policy: forbid,
		target: templateTarget(corev1.PodSpec{
			InitContainers:      []corev1.Container{ctr("init")},
			Containers:          []corev1.Container{ctr("app", nonRoot(true))},
			EphemeralContainers: []corev1.EphemeralContainer{ephemeral(ctr("dbg"))},
		}),
		want: []Finding{
			{Path: "spec.template.spec.initContainers[0].securityContext.runAsNonRoot", Container: "init", Message: unset("init")},
			{Path: "spec.template.spec.ephemeralContainers[0].securityContext.runAsNonRoot", Container: "dbg", Message: unset("dbg")},
		},
	}})
}
