//go:build helm

package helm

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

// TestSafeDefaults: what a plain `helm install` runs. Each check is one line of the chart's promise.
func TestSafeDefaults(t *testing.T) {
	r := inspect(t, render(t))
	spec := r.deploy.Spec.Template.Spec
	check := func(ok bool, what string, got any) {
		t.Helper()
		if !ok {
			t.Errorf("%s; got %+v", what, got)
		}
	}
	check(r.deploy.Spec.Replicas != nil && *r.deploy.Spec.Replicas == 3, "3 replicas", r.deploy.Spec.Replicas)
	ru := r.deploy.Spec.Strategy.RollingUpdate
	check(ru != nil && ru.MaxUnavailable != nil && *ru.MaxUnavailable == intstr.FromInt32(0), "rolling updates with maxUnavailable 0", ru)
	check(spec.PriorityClassName == "system-cluster-critical", "priorityClassName system-cluster-critical", spec.PriorityClassName)
	check(len(spec.TopologySpreadConstraints) == 1 && spec.TopologySpreadConstraints[0].TopologyKey == "kubernetes.io/hostname",
		"a topology spread constraint over kubernetes.io/hostname", spec.TopologySpreadConstraints)
	aa := spec.Affinity
	check(aa != nil && aa.PodAntiAffinity != nil && len(aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 1 &&
		aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey == "kubernetes.io/hostname",
		"a preferred pod anti-affinity over kubernetes.io/hostname", aa)
	check(r.args["--shutdown-delay"] == "10s", "--shutdown-delay=10s", r.args["--shutdown-delay"])
	check(spec.TerminationGracePeriodSeconds != nil && *spec.TerminationGracePeriodSeconds > 10, "terminationGracePeriodSeconds > the delay", spec.TerminationGracePeriodSeconds)

	psc := spec.SecurityContext
	check(psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot && psc.RunAsUser != nil && *psc.RunAsUser == 65532 &&
		psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault,
		"pod: runAsNonRoot, runAsUser 65532, RuntimeDefault seccomp", psc)
	sc := r.container.SecurityContext
	check(sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && sc.RunAsUser != nil && *sc.RunAsUser == 65532 &&
		sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem &&
		sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation &&
		sc.Capabilities != nil && len(sc.Capabilities.Drop) == 1 && sc.Capabilities.Drop[0] == "ALL" && len(sc.Capabilities.Add) == 0 &&
		sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault,
		"container: runAsNonRoot, 65532, read-only root, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp", sc)
	res := r.container.Resources
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		_, req := res.Requests[name]
		_, lim := res.Limits[name]
		check(req && lim, "requests and limits for "+string(name), res)
	}
	certs := r.volumeFor(t, r.args["--cert-dir"])
	check(certs.EmptyDir != nil, "an emptyDir at the cert dir (self-managed certificates)", certs.VolumeSource)
	check(r.args["--cert-mode"] == "self", "self-managed certificates", r.args["--cert-mode"])

	var pdb policyv1.PodDisruptionBudget
	r.m.one(t, "PodDisruptionBudget", &pdb)
	check(pdb.Spec.MaxUnavailable != nil && *pdb.Spec.MaxUnavailable == intstr.FromInt32(1), "a PodDisruptionBudget with maxUnavailable 1", pdb.Spec)

	// The first install reports and warns; nobody is blocked until someone switches to Enforce.
	var policy v1alpha1.ClusterAdmissionPolicy
	r.m.one(t, "ClusterAdmissionPolicy", &policy)
	check(policy.Name == "baseline" && policy.Spec.Mode == v1alpha1.ModeAudit && policy.Spec.PodSecurity != nil &&
		policy.Spec.PodSecurity.Level == "baseline", "one policy, baseline, podSecurity baseline, in Audit mode", policy)
	check(*r.vwc.Webhooks[0].FailurePolicy == "Fail", "the workload webhook fails closed", r.vwc.Webhooks[0].FailurePolicy)
}
