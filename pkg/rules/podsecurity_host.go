package rules

import (
	"reflect"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Locators of the checks on host access and privilege: host namespaces, ports, paths and probes,
// privileged containers, volume types, capabilities, /proc masks, sysctls, Windows HostProcess.

func pssLocatePrivileged(x *pssLocate) {
	for i := range x.t.Containers() {
		c := &x.t.Containers()[i]
		if sc := c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
			x.add(c.Path("securityContext", "privileged"), c.Name,
				containerOwner(c)+" sets securityContext.privileged=true",
				"forbids privileged containers: remove it or set it to false")
		}
	}
}

func pssLocateHostNamespaces(x *pssLocate) {
	const fix = "forbids sharing the host's namespaces: remove it or set it to false"
	s := x.t.Spec
	if s.HostNetwork {
		x.add(x.t.Path("hostNetwork"), "", "pod sets hostNetwork=true", fix)
	}
	if s.HostPID {
		x.add(x.t.Path("hostPID"), "", "pod sets hostPID=true", fix)
	}
	if s.HostIPC {
		x.add(x.t.Path("hostIPC"), "", "pod sets hostIPC=true", fix)
	}
}

// pssLocateHostPorts reports one finding per container: at the port when one sets a host port, at
// its ports list when several do.
func pssLocateHostPorts(x *pssLocate) {
	const fix = "forbids host ports: remove hostPort and reach the container through a Service"
	for i := range x.t.Containers() {
		c := &x.t.Containers()[i]
		var bad entries
		for j, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			v := ""
			if !bad.full() {
				v = pssIndex("ports", j) + ".hostPort=" + strconv.Itoa(int(p.HostPort))
			}
			bad.add(j, v)
		}
		switch {
		case bad.n == 1:
			x.add(c.Path(pssIndex("ports", bad.index), "hostPort"), c.Name, containerOwner(c)+" sets "+bad.first[0], fix)
		case bad.n > 1:
			x.add(c.Path("ports"), c.Name, containerOwner(c)+" sets "+count(bad.n, "host port", "host ports")+": "+bad.plain(), fix)
		}
	}
}

// pssLocateHostPathVolumes reports the hostPath volume, or all of them as one finding at the
// volumes list.
func pssLocateHostPathVolumes(x *pssLocate) {
	const fix = "forbids hostPath volumes: use a persistentVolumeClaim, emptyDir, configMap or secret volume instead"
	var bad entries
	for i := range x.t.Spec.Volumes {
		v := &x.t.Spec.Volumes[i]
		if v.HostPath == nil {
			continue
		}
		s := ""
		if !bad.full() {
			s = quote(v.Name) + " (" + quote(v.HostPath.Path) + ")"
		}
		bad.add(i, s)
	}
	switch {
	case bad.n == 1:
		v := &x.t.Spec.Volumes[bad.index]
		x.add(x.t.Path(pssIndex("volumes", bad.index), "hostPath"), "",
			"volume "+quote(v.Name)+" mounts host path "+quote(v.HostPath.Path), fix)
	case bad.n > 1:
		x.add(x.t.Path("volumes"), "", count(bad.n, "volume", "volumes")+" mount host paths: "+bad.plain(), fix)
	}
}

// pssLocateRestrictedVolumes probes each volume alone; it reports the offending volume, or all of
// them as one finding at the volumes list.
func pssLocateRestrictedVolumes(x *pssLocate) {
	const fix = "allows only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, " +
		"projected and secret volumes: use one of those, e.g. a persistentVolumeClaim"
	var bad entries
	probe := &corev1.PodSpec{Volumes: make([]corev1.Volume, 1)}
	for i := range x.t.Spec.Volumes {
		v := &x.t.Spec.Volumes[i]
		probe.Volumes[0] = *v
		if !x.forbids(nil, probe) {
			continue
		}
		s := ""
		if !bad.full() {
			s = quote(v.Name) + " (" + pssSourceName(v) + ")"
		}
		bad.add(i, s)
	}
	switch {
	case bad.n == 1:
		v := &x.t.Spec.Volumes[bad.index]
		path := x.t.Path(pssIndex("volumes", bad.index))
		what := "volume " + quote(v.Name) + " has no allowed volume source"
		if src := pssVolumeSource(v); src != "" {
			path += "." + src
			what = "volume " + quote(v.Name) + " is a " + src + " volume"
		}
		x.add(path, "", what, fix)
	case bad.n > 1:
		x.add(x.t.Path("volumes"), "", count(bad.n, "volume", "volumes")+" have a type that is not allowed: "+bad.plain(), fix)
	}
}

// pssMemoSize bounds the probe verdicts a locator remembers: enough for every capability name there
// is, few enough to cost nothing.
const pssMemoSize = 1024

// pssSourceName names a volume's source for a list: "nfs", or "no source".
func pssSourceName(v *corev1.Volume) string {
	if src := pssVolumeSource(v); src != "" {
		return src
	}
	return "no source"
}

// pssVolumeSource returns the JSON name of the volume's source field ("nfs", "hostPath"), found by
// reflection so that sources added to the API later are named too.
func pssVolumeSource(v *corev1.Volume) string {
	rv := reflect.ValueOf(&v.VolumeSource).Elem()
	for i := 0; i < rv.NumField(); i++ {
		if f := rv.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
			return name
		}
	}
	return ""
}

func pssLocateAllowPrivilegeEscalation(x *pssLocate) {
	const fix = "requires every container to set securityContext.allowPrivilegeEscalation=false: set it to false"
	for i := range x.t.Containers() {
		c := &x.t.Containers()[i]
		var v *bool
		if c.SecurityContext != nil {
			v = c.SecurityContext.AllowPrivilegeEscalation
		}
		switch {
		case v == nil:
			x.add(c.Path("securityContext", "allowPrivilegeEscalation"), c.Name,
				containerOwner(c)+" does not set securityContext.allowPrivilegeEscalation, which defaults to true", fix)
		case *v:
			x.add(c.Path("securityContext", "allowPrivilegeEscalation"), c.Name,
				containerOwner(c)+" sets securityContext.allowPrivilegeEscalation=true", fix)
		}
	}
}

// pssLocateCapabilities serves both capability checks: the baseline one (only the runtime's default
// capabilities may be added) and the restricted one (drop ALL; add at most NET_BIND_SERVICE). Each
// added capability is probed alone; a container's forbidden ones are reported as one finding.
func pssLocateCapabilities(x *pssLocate) {
	allowed := "forbids adding capabilities beyond the container runtime's defaults"
	if x.id == "capabilities_restricted" {
		allowed = "allows adding only NET_BIND_SERVICE"
	}
	// One probe pod, refilled for each value: a container may add any number of capabilities.
	addProbe := &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: make([]corev1.Capability, 1)}
	addSC := &corev1.SecurityContext{Capabilities: addProbe}
	// memo keeps the verdict on the first pssMemoSize distinct names: a list that repeats names
	// costs one probe per name, while one of distinct names still costs one probe per entry.
	memo := make(map[corev1.Capability]bool)
	for i := range x.t.Containers() {
		c := &x.t.Containers()[i]
		var caps *corev1.Capabilities
		if c.SecurityContext != nil {
			caps = c.SecurityContext.Capabilities
		}
		var drop, add []corev1.Capability
		if caps != nil {
			drop, add = caps.Drop, caps.Add
		}
		if x.forbidsContainer(c.Name, &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: drop}}) {
			what := containerOwner(c) + " does not set securityContext.capabilities.drop"
			if len(drop) > 0 {
				what = containerOwner(c) + " drops " + quoteEntries(drop) + " but not \"ALL\""
			}
			x.add(c.Path("securityContext", "capabilities", "drop"), c.Name, what,
				`requires every container to drop all capabilities: set securityContext.capabilities.drop=["ALL"]`)
		}
		var bad entries
		for j, a := range add {
			forbidden, ok := memo[a]
			if !ok {
				addProbe.Add[0] = a
				forbidden = x.forbidsContainer(c.Name, addSC)
				if len(memo) < pssMemoSize {
					memo[a] = forbidden
				}
			}
			if forbidden {
				bad.add(j, string(a))
			}
		}
		switch {
		case bad.n == 1:
			x.add(c.Path("securityContext", "capabilities", pssIndex("add", bad.index)), c.Name,
				containerOwner(c)+" adds capability "+quote(bad.first[0]), allowed+": remove it from securityContext.capabilities.add")
		case bad.n > 1:
			x.add(c.Path("securityContext", "capabilities", "add"), c.Name,
				containerOwner(c)+" adds "+count(bad.n, "capability", "capabilities")+" that are not allowed: "+bad.values(),
				allowed+": remove them from securityContext.capabilities.add")
		}
	}
}

func pssLocateProcMount(x *pssLocate) {
	for i := range x.t.Containers() {
		c := &x.t.Containers()[i]
		if sc := c.SecurityContext; sc != nil && sc.ProcMount != nil &&
			x.forbidsContainer(c.Name, &corev1.SecurityContext{ProcMount: sc.ProcMount}) {
			x.add(c.Path("securityContext", "procMount"), c.Name,
				containerOwner(c)+" sets securityContext.procMount="+quote(string(*sc.ProcMount)),
				`requires the default /proc masks: remove it or set it to "Default"`)
		}
	}
}

// pssLocateSysctls probes each sysctl alone; it reports the forbidden one, or all of them as one
// finding at the sysctls list.
func pssLocateSysctls(x *pssLocate) {
	const fix = "allows only the safe, namespaced sysctls at this version: remove"
	sc := x.t.Spec.SecurityContext
	if sc == nil {
		return
	}
	var bad entries
	probe := &corev1.PodSecurityContext{Sysctls: make([]corev1.Sysctl, 1)}
	for i, s := range sc.Sysctls {
		probe.Sysctls[0] = s
		if x.forbidsPod(probe) {
			bad.add(i, s.Name)
		}
	}
	switch {
	case bad.n == 1:
		x.add(x.t.Path("securityContext", pssIndex("sysctls", bad.index), "name"), "",
			"pod sets sysctl "+quote(bad.first[0]), fix+" it")
	case bad.n > 1:
		x.add(x.t.Path("securityContext", "sysctls"), "",
			"pod sets "+count(bad.n, "sysctl", "sysctls")+" that are not allowed: "+bad.values(), fix+" them")
	}
}

func pssLocateWindowsHostProcess(x *pssLocate) {
	const fix = "forbids Windows HostProcess containers: remove it or set it to false"
	if sc := x.t.Spec.SecurityContext; sc != nil && sc.WindowsOptions != nil &&
		sc.WindowsOptions.HostProcess != nil && *sc.WindowsOptions.HostProcess {
		x.add(x.t.Path("securityContext", "windowsOptions", "hostProcess"), "",
			"pod sets securityContext.windowsOptions.hostProcess=true", fix)
	}
	for i := range x.t.Containers() {
		c := &x.t.Containers()[i]
		if sc := c.SecurityContext; sc != nil && sc.WindowsOptions != nil &&
			sc.WindowsOptions.HostProcess != nil && *sc.WindowsOptions.HostProcess {
			x.add(c.Path("securityContext", "windowsOptions", "hostProcess"), c.Name,
				containerOwner(c)+" sets securityContext.windowsOptions.hostProcess=true", fix)
		}
	}
}

func pssLocateHostProbesAndHostLifecycle(x *pssLocate) {
	const fix = "forbids probes and lifecycle handlers aimed at another host: remove host, so that the handler targets the pod's own IP"
	for i := range x.t.Containers() {
		c := &x.t.Containers()[i]
		handler := func(field string, httpGet *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction) {
			if httpGet != nil && httpGet.Host != "" {
				x.add(c.Path(field, "httpGet", "host"), c.Name,
					containerOwner(c)+" sets "+field+".httpGet.host="+quote(httpGet.Host), fix)
			}
			if tcp != nil && tcp.Host != "" {
				x.add(c.Path(field, "tcpSocket", "host"), c.Name,
					containerOwner(c)+" sets "+field+".tcpSocket.host="+quote(tcp.Host), fix)
			}
		}
		for _, p := range []struct {
			field string
			probe *corev1.Probe
		}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
			if p.probe != nil {
				handler(p.field, p.probe.HTTPGet, p.probe.TCPSocket)
			}
		}
		if lc := c.Lifecycle; lc != nil {
			if lc.PostStart != nil {
				handler("lifecycle.postStart", lc.PostStart.HTTPGet, lc.PostStart.TCPSocket)
			}
			if lc.PreStop != nil {
				handler("lifecycle.preStop", lc.PreStop.HTTPGet, lc.PreStop.TCPSocket)
			}
		}
	}
}
