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

func pssLocateHostPorts(x *pssLocate) {
	for i := range x.t.Containers() {
		c := &x.t.Containers()[i]
		for j, p := range c.Ports {
			if p.HostPort != 0 {
				x.add(c.Path(pssIndex("ports", j), "hostPort"), c.Name,
					containerOwner(c)+" sets "+pssIndex("ports", j)+".hostPort="+strconv.Itoa(int(p.HostPort)),
					"forbids host ports: remove hostPort and reach the container through a Service")
			}
		}
	}
}

func pssLocateHostPathVolumes(x *pssLocate) {
	for i := range x.t.Spec.Volumes {
		v := &x.t.Spec.Volumes[i]
		if v.HostPath != nil {
			x.add(x.t.Path(pssIndex("volumes", i), "hostPath"), "",
				"volume "+strconv.Quote(v.Name)+" mounts host path "+strconv.Quote(v.HostPath.Path),
				"forbids hostPath volumes: use a persistentVolumeClaim, emptyDir, configMap or secret volume instead")
		}
	}
}

func pssLocateRestrictedVolumes(x *pssLocate) {
	for i := range x.t.Spec.Volumes {
		v := &x.t.Spec.Volumes[i]
		if !x.forbids(nil, &corev1.PodSpec{Volumes: []corev1.Volume{*v}}) {
			continue
		}
		const fix = "allows only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, " +
			"projected and secret volumes: use one of those, e.g. a persistentVolumeClaim"
		path := x.t.Path(pssIndex("volumes", i))
		what := "volume " + strconv.Quote(v.Name) + " has no allowed volume source"
		if src := pssVolumeSource(v); src != "" {
			path += "." + src
			what = "volume " + strconv.Quote(v.Name) + " is a " + src + " volume"
		}
		x.add(path, "", what, fix)
	}
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
// capabilities may be added) and the restricted one (drop ALL; add at most NET_BIND_SERVICE).
func pssLocateCapabilities(x *pssLocate) {
	addFix := "forbids adding capabilities beyond the container runtime's defaults: remove it from securityContext.capabilities.add"
	if x.id == "capabilities_restricted" {
		addFix = "allows adding only NET_BIND_SERVICE: remove it from securityContext.capabilities.add"
	}
	dropAll := []corev1.Capability{"ALL"}
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
				what = containerOwner(c) + " drops " + quoteList(drop) + " but not \"ALL\""
			}
			x.add(c.Path("securityContext", "capabilities", "drop"), c.Name, what,
				`requires every container to drop all capabilities: set securityContext.capabilities.drop=["ALL"]`)
		}
		for j, a := range add {
			probe := &corev1.Capabilities{Drop: dropAll, Add: []corev1.Capability{a}}
			if x.forbidsContainer(c.Name, &corev1.SecurityContext{Capabilities: probe}) {
				x.add(c.Path("securityContext", "capabilities", pssIndex("add", j)), c.Name,
					containerOwner(c)+" adds capability "+strconv.Quote(string(a)), addFix)
			}
		}
	}
}

func pssLocateProcMount(x *pssLocate) {
	for i := range x.t.Containers() {
		c := &x.t.Containers()[i]
		if sc := c.SecurityContext; sc != nil && sc.ProcMount != nil &&
			x.forbidsContainer(c.Name, &corev1.SecurityContext{ProcMount: sc.ProcMount}) {
			x.add(c.Path("securityContext", "procMount"), c.Name,
				containerOwner(c)+" sets securityContext.procMount="+strconv.Quote(string(*sc.ProcMount)),
				`requires the default /proc masks: remove it or set it to "Default"`)
		}
	}
}

func pssLocateSysctls(x *pssLocate) {
	sc := x.t.Spec.SecurityContext
	if sc == nil {
		return
	}
	for i, s := range sc.Sysctls {
		if x.forbidsPod(&corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{s}}) {
			x.add(x.t.Path("securityContext", pssIndex("sysctls", i), "name"), "",
				"pod sets sysctl "+strconv.Quote(s.Name),
				"allows only the safe, namespaced sysctls at this version: remove it")
		}
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
					containerOwner(c)+" sets "+field+".httpGet.host="+strconv.Quote(httpGet.Host), fix)
			}
			if tcp != nil && tcp.Host != "" {
				x.add(c.Path(field, "tcpSocket", "host"), c.Name,
					containerOwner(c)+" sets "+field+".tcpSocket.host="+strconv.Quote(tcp.Host), fix)
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
