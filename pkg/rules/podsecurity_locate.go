package rules

import (
	"slices"
	"strconv"
	"strings"

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
	// out receives the findings, under rule; standard names the level and version in messages.
	out            *Findings
	rule, standard string
	// n counts the findings located, reported or not.
	n int
	pssScope
	// pod and one are the probe pod and its one container, reused across probes.
	pod corev1.PodSpec
	one []corev1.Container
}

// add reports one offending field: where, what it holds, and how to fix it (after the standard's name).
func (x *pssLocate) add(path, container, what, fix string) {
	x.n++
	if x.containersOnly && container == "" {
		return
	}
	// found(what, x.standard+" "+fix), in one concatenation.
	x.out.Add(Finding{Rule: x.rule, Path: path, Container: container, Message: what + "; " + x.standard + " " + fix})
}

// forbids reports whether the check fails on the probe pod.
func (x *pssLocate) forbids(meta *metav1.ObjectMeta, spec *corev1.PodSpec) bool {
	if x.probe == nil {
		return false
	}
	if meta == nil {
		meta = &pssEmptyMeta
	}
	return !x.probe(meta, spec).Allowed
}

// pssScope says what part of the pod a locator sees, when an exclusion leaves containers out.
type pssScope struct {
	// partial: some of the pod's containers are left out, so "no container sets it" is not the
	// pod's to fix.
	partial bool
	// containersOnly leaves out the findings at the pod's own fields (that name no container).
	containersOnly bool
}

// pssEmptyMeta is the metadata of probe pods that need none. Checks only read it.
var pssEmptyMeta metav1.ObjectMeta

// forbidsPod probes a pod whose only setting is this pod security context.
func (x *pssLocate) forbidsPod(sc *corev1.PodSecurityContext) bool {
	x.pod = corev1.PodSpec{SecurityContext: sc}
	return x.forbids(nil, &x.pod)
}

// forbidsContainer probes a pod whose only setting is one container's security context.
func (x *pssLocate) forbidsContainer(name string, sc *corev1.SecurityContext) bool {
	if x.one == nil {
		x.one = make([]corev1.Container, 1)
	}
	// The probe pod is refilled, never allocated anew: a locator may probe once per list entry, and a
	// container is a large struct.
	x.one[0] = corev1.Container{Name: name, SecurityContext: sc}
	x.pod = corev1.PodSpec{Containers: x.one}
	return x.forbids(nil, &x.pod)
}

// forbiddenAnnotations reports the annotations the check fails on, each probed alone: the one, or
// all of them (in key order) as one finding at the annotations. The seccomp annotations before v1.19
// name a container (container.seccomp.security.alpha.kubernetes.io/<name>), and upstream reads such
// an annotation only for a container of that name, so the probe pod holds that container alone when
// the pod has it: probing with every container would cost annotations × containers.
func (x *pssLocate) forbiddenAnnotations(fix string) {
	ann := x.t.Meta.Annotations
	if len(ann) == 0 {
		return
	}
	keys := make([]string, 0, len(ann))
	for k := range ann {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var names map[string]bool
	meta := &metav1.ObjectMeta{Annotations: make(map[string]string, 1)}
	empty, named := &corev1.PodSpec{}, &corev1.PodSpec{Containers: make([]corev1.Container, 1)}
	var bad entries
	for i, k := range keys {
		clear(meta.Annotations)
		meta.Annotations[k] = ann[k]
		spec := empty
		if slash := strings.LastIndexByte(k, '/'); slash >= 0 {
			if names == nil {
				names = make(map[string]bool, len(x.t.Containers()))
				for c := range x.t.Containers() {
					names[x.t.Containers()[c].Name] = true
				}
			}
			if name := k[slash+1:]; names[name] {
				named.Containers[0].Name = name
				spec = named
			}
		}
		if x.forbids(meta, spec) {
			bad.add(i, k)
		}
	}
	switch {
	case bad.n == 1:
		k := bad.first[0]
		x.add(x.t.MetaPath+".annotations["+Truncate(k, MaxValueBytes)+"]", "",
			"annotation "+quote(k)+" is "+quote(ann[k]), fix)
	case bad.n > 1:
		x.add(x.t.MetaPath+".annotations", "",
			count(bad.n, "annotation", "annotations")+" set profiles that are not allowed: "+bad.values(), fix)
	}
}

func pssIndex(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }
