package rules

import (
	corev1 "k8s.io/api/core/v1"
)

// Locators of the checks on identity and confinement, set on the pod or on each container: the user
// (runAsNonRoot, runAsUser) and the seccomp, AppArmor and SELinux profiles.

// pssLocateRunAsNonRoot follows upstream: a container passes if it sets runAsNonRoot=true, or leaves
// it unset while the pod sets it to true. When no container sets it, the missing field is the pod's.
func pssLocateRunAsNonRoot(x *pssLocate) {
	var pod *bool
	if sc := x.t.Spec.SecurityContext; sc != nil {
		pod = sc.RunAsNonRoot
	}
	if pod != nil && !*pod {
		x.add(x.t.Path("securityContext", "runAsNonRoot"), "", "pod sets securityContext.runAsNonRoot=false",
			"requires containers to run as non-root: set it to true")
	}
	var unset []*Container
	for i := range x.t.Containers() {
		c := &x.t.Containers()[i]
		var v *bool
		if c.SecurityContext != nil {
			v = c.SecurityContext.RunAsNonRoot
		}
		switch {
		case v == nil:
			unset = append(unset, c)
		case !*v:
			x.add(c.Path("securityContext", "runAsNonRoot"), c.Name,
				containerOwner(c)+" sets securityContext.runAsNonRoot=false",
				"requires containers to run as non-root: set it to true")
		}
	}
	// When the pod sets it, containers that leave it unset inherit the pod's value: true passes, and
	// false is reported above, where fixing it fixes them all.
	if pod != nil || len(unset) == 0 {
		return
	}
	if len(unset) == len(x.t.Containers()) && !x.partial {
		x.add(x.t.Path("securityContext", "runAsNonRoot"), "",
			"neither the pod nor any container sets securityContext.runAsNonRoot",
			"requires containers to run as non-root: set securityContext.runAsNonRoot=true on the pod")
		return
	}
	for _, c := range unset {
		x.add(c.Path("securityContext", "runAsNonRoot"), c.Name,
			containerOwner(c)+" does not set securityContext.runAsNonRoot, nor does the pod",
			"requires containers to run as non-root: set it to true on the container or the pod")
	}
}

func pssLocateRunAsUser(x *pssLocate) {
	const fix = "forbids running as root (UID 0): set runAsUser to a non-zero UID, or remove it and set runAsNonRoot=true"
	if sc := x.t.Spec.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		x.add(x.t.Path("securityContext", "runAsUser"), "", "pod sets securityContext.runAsUser=0", fix)
	}
	for i := range x.t.Containers() {
		c := &x.t.Containers()[i]
		if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			x.add(c.Path("securityContext", "runAsUser"), c.Name, containerOwner(c)+" sets securityContext.runAsUser=0", fix)
		}
	}
}

// pssLocateSeccompProfile serves both seccomp checks. Explicit profiles (and, before v1.19, the
// seccomp annotations) are probed; the restricted check also requires a profile to be set.
func pssLocateSeccompProfile(x *pssLocate) {
	const fix = `allows only the RuntimeDefault and Localhost seccomp profiles: set it to "RuntimeDefault"`
	t := x.t
	var pod *corev1.SeccompProfile
	if sc := t.Spec.SecurityContext; sc != nil {
		pod = sc.SeccompProfile
	}
	if pod != nil && x.forbidsPod(&corev1.PodSecurityContext{SeccompProfile: pod}) {
		x.add(t.Path("securityContext", "seccompProfile", "type"), "",
			"pod sets securityContext.seccompProfile.type="+quote(string(pod.Type)), fix)
	}
	var unset []*Container
	for i := range t.Containers() {
		c := &t.Containers()[i]
		var sp *corev1.SeccompProfile
		if c.SecurityContext != nil {
			sp = c.SecurityContext.SeccompProfile
		}
		if sp == nil {
			unset = append(unset, c)
			continue
		}
		if x.forbidsContainer(c.Name, &corev1.SecurityContext{SeccompProfile: sp}) {
			x.add(c.Path("securityContext", "seccompProfile", "type"), c.Name,
				containerOwner(c)+" sets securityContext.seccompProfile.type="+quote(string(sp.Type)), fix)
		}
	}
	if x.id == "seccompProfile_baseline" {
		// Before v1.19 the baseline check reads the seccomp annotations instead of the fields.
		x.forbiddenAnnotations(`allows only the runtime/default, docker/default and localhost/* seccomp profiles: ` +
			`set it to "runtime/default", or use securityContext.seccompProfile`)
		return
	}
	// Restricted: containers that set no profile inherit the pod's; a forbidden pod profile is
	// reported above, where fixing it fixes them all.
	if pod != nil || len(unset) == 0 {
		return
	}
	const missing = `requires a seccomp profile: set securityContext.seccompProfile.type="RuntimeDefault"`
	if len(unset) == len(t.Containers()) && !x.partial {
		x.add(t.Path("securityContext", "seccompProfile", "type"), "",
			"neither the pod nor any container sets securityContext.seccompProfile", missing+" on the pod")
		return
	}
	for _, c := range unset {
		x.add(c.Path("securityContext", "seccompProfile", "type"), c.Name,
			containerOwner(c)+" does not set securityContext.seccompProfile, nor does the pod", missing+" on the container or the pod")
	}
}

func pssLocateAppArmorProfile(x *pssLocate) {
	const fix = `allows only the RuntimeDefault and Localhost AppArmor profiles: set it to "RuntimeDefault" or remove it`
	t := x.t
	if sc := t.Spec.SecurityContext; sc != nil && sc.AppArmorProfile != nil &&
		x.forbidsPod(&corev1.PodSecurityContext{AppArmorProfile: sc.AppArmorProfile}) {
		x.add(t.Path("securityContext", "appArmorProfile", "type"), "",
			"pod sets securityContext.appArmorProfile.type="+quote(string(sc.AppArmorProfile.Type)), fix)
	}
	for i := range t.Containers() {
		c := &t.Containers()[i]
		if sc := c.SecurityContext; sc != nil && sc.AppArmorProfile != nil &&
			x.forbidsContainer(c.Name, &corev1.SecurityContext{AppArmorProfile: sc.AppArmorProfile}) {
			x.add(c.Path("securityContext", "appArmorProfile", "type"), c.Name,
				containerOwner(c)+" sets securityContext.appArmorProfile.type="+quote(string(sc.AppArmorProfile.Type)), fix)
		}
	}
	x.forbiddenAnnotations(`allows only the runtime/default and localhost/* AppArmor profiles: ` +
		`remove the annotation or set it to "runtime/default"`)
}

// pssLocateSELinuxOptions probes each option (type, user, role, level) alone, at pod and container level.
func pssLocateSELinuxOptions(x *pssLocate) {
	check := func(opts *corev1.SELinuxOptions, path func(...string) string, owner, container string,
		forbids func(*corev1.SELinuxOptions) bool) {
		for _, o := range []struct {
			field, value, fix string
			probe             corev1.SELinuxOptions
		}{
			{"type", opts.Type, "allows only the container runtime's own SELinux types, such as container_t: remove it", corev1.SELinuxOptions{Type: opts.Type}},
			{"user", opts.User, "forbids setting an SELinux user: remove it", corev1.SELinuxOptions{User: opts.User}},
			{"role", opts.Role, "forbids setting an SELinux role: remove it", corev1.SELinuxOptions{Role: opts.Role}},
			{"level", opts.Level, "forbids this SELinux level: remove it", corev1.SELinuxOptions{Level: opts.Level}},
		} {
			if o.value != "" && forbids(&o.probe) {
				x.add(path("securityContext", "seLinuxOptions", o.field), container,
					owner+" sets securityContext.seLinuxOptions."+o.field+"="+quote(o.value), o.fix)
			}
		}
	}
	if sc := x.t.Spec.SecurityContext; sc != nil && sc.SELinuxOptions != nil {
		check(sc.SELinuxOptions, x.t.Path, "pod", "", func(o *corev1.SELinuxOptions) bool {
			return x.forbidsPod(&corev1.PodSecurityContext{SELinuxOptions: o})
		})
	}
	for i := range x.t.Containers() {
		c := &x.t.Containers()[i]
		if sc := c.SecurityContext; sc != nil && sc.SELinuxOptions != nil {
			check(sc.SELinuxOptions, c.Path, containerOwner(c), c.Name, func(o *corev1.SELinuxOptions) bool {
				return x.forbidsContainer(c.Name, &corev1.SecurityContext{SELinuxOptions: o})
			})
		}
	}
}
