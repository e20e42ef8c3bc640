package rules

import (
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psapolicy "k8s.io/pod-security-admission/policy"
)

// The locators say where in the pod a failing Pod Security Standards check found what it forbids.
// They run only after upstream has said the pod fails the check, and never change that verdict.
//
// Where a check judges a value against an allowlist that differs between versions (sysctls, SELinux
// types, volume types, capabilities, seccomp and AppArmor profiles, /proc mounts), the locator does
// not copy the list: it probes, running the upstream check in force at the evaluated version on a
// pod that holds only the one value, and reports the values that pod fails on. Structural checks
// (a field set to true, a host port) are read directly.

// pssLocators maps each upstream check ID to its locator. A test asserts that every upstream check
// has one; a check without one is reported at the pod spec.
var pssLocators = map[psapolicy.CheckID]func(*pssLocate){
	"allowPrivilegeEscalation":   pssLocateAllowPrivilegeEscalation,
	"appArmorProfile":            pssLocateAppArmorProfile,
	"capabilities_baseline":      pssLocateCapabilities,
	"capabilities_restricted":    pssLocateCapabilities,
	"hostNamespaces":             pssLocateHostNamespaces,
	"hostPathVolumes":            pssLocateHostPathVolumes,
	"hostPorts":                  pssLocateHostPorts,
	"hostProbesAndHostLifecycle": pssLocateHostProbesAndHostLifecycle,
	"privileged":                 pssLocatePrivileged,
	"procMount":                  pssLocateProcMount,
	"procMount_restricted":       pssLocateProcMount,
	"restrictedVolumes":          pssLocateRestrictedVolumes,
	"runAsNonRoot":               pssLocateRunAsNonRoot,
	"runAsUser":                  pssLocateRunAsUser,
	"seLinuxOptions":             pssLocateSELinuxOptions,
	"seccompProfile_baseline":    pssLocateSeccompProfile,
	"seccompProfile_restricted":  pssLocateSeccompProfile,
	"sysctls":                    pssLocateSysctls,
	"windowsHostProcess":         pssLocateWindowsHostProcess,
}

// pssLocate is one locator run: the failing check, the pod, and what was found.
type pssLocate struct {
	id psapolicy.CheckID
	t  *Target
	// probe is the failing check as upstream wrote it, in force at the evaluated version.
	probe psapolicy.CheckPodFn
	spots []pssSpot
}

// pssSpot is one offending field: where, what it holds, and how to fix it (after the standard's name).
type pssSpot struct {
	path, container, what, fix string
}

func (x *pssLocate) add(path, container, what, fix string) {
	x.spots = append(x.spots, pssSpot{path: path, container: container, what: what, fix: fix})
}

// forbids reports whether the check fails on the probe pod.
func (x *pssLocate) forbids(meta *metav1.ObjectMeta, spec *corev1.PodSpec) bool {
	if x.probe == nil {
		return false
	}
	if meta == nil {
		meta = &metav1.ObjectMeta{}
	}
	return !x.probe(meta, spec).Allowed
}

// forbidsPod probes a pod whose only setting is this pod security context.
func (x *pssLocate) forbidsPod(sc *corev1.PodSecurityContext) bool {
	return x.forbids(nil, &corev1.PodSpec{SecurityContext: sc})
}

// forbidsContainer probes a pod whose only setting is one container's security context.
func (x *pssLocate) forbidsContainer(name string, sc *corev1.SecurityContext) bool {
	return x.forbids(nil, &corev1.PodSpec{Containers: []corev1.Container{{Name: name, SecurityContext: sc}}})
}

// forbiddenAnnotations reports, in key order, the annotations the check fails on, each probed alone
// on a pod with the same container names (the seccomp annotations before v1.19 name a container).
func (x *pssLocate) forbiddenAnnotations(fix string) {
	if x.t.Meta == nil || len(x.t.Meta.Annotations) == 0 {
		return
	}
	spec := &corev1.PodSpec{}
	for i := range x.t.Containers() {
		spec.Containers = append(spec.Containers, corev1.Container{Name: x.t.Containers()[i].Name})
	}
	keys := make([]string, 0, len(x.t.Meta.Annotations))
	for k := range x.t.Meta.Annotations {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := x.t.Meta.Annotations[k]
		if x.forbids(&metav1.ObjectMeta{Annotations: map[string]string{k: v}}, spec) {
			x.add(x.t.MetaPath+".annotations["+k+"]", "",
				"annotation "+strconv.Quote(k)+" is "+strconv.Quote(v), fix)
		}
	}
}

func pssIndex(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }
