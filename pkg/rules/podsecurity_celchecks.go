package rules

import (
	"strconv"
	"strings"
)

// The CEL of each Pod Security Standards check (podsecurity_cel.go), in the words of its locator
// (podsecurity_host.go, podsecurity_profiles.go). Each follows upstream's check_*.go at b.v.

func pssCELPrivileged(b *pssCEL) {
	b.containers("!c.?securityContext.?privileged.orValue(false)", func(p string) string {
		return b.msg(p+" + '.securityContext.privileged'", celOwner+" + ' sets securityContext.privileged=true'",
			"forbids privileged containers: remove it or set it to false")
	})
}

func pssCELHostNamespaces(b *pssCEL) {
	for _, f := range [...]string{"hostNetwork", "hostPID", "hostIPC"} {
		b.add("!"+CELSpec+".?"+f+".orValue(false)", b.msg(CELSpecPath+" + '."+f+"'", celText("pod sets "+f+"=true"),
			"forbids sharing the host's namespaces: remove it or set it to false"))
	}
}

func pssCELHostPorts(b *pssCEL) {
	const fix = "forbids host ports: remove hostPort and reach the container through a Service"
	bad := "e.?hostPort.orValue(0) != 0"
	b.containers("!has(c.ports) || c.ports.all(e, !("+bad+"))", func(p string) string {
		return pssListMsg("c.ports", bad,
			b.msg(p+" + '.ports[' + string(i) + '].hostPort'", celOwner+" + ' sets ports[' + string(i) + '].hostPort=' + string(e.hostPort)", fix),
			"'ports[' + string(i) + '].hostPort=' + string(e.hostPort)",
			func(n, vals string) string {
				return b.msg(p+" + '.ports'", celOwner+" + ' sets ' + "+n+" + ' host ports: ' + "+vals, fix)
			})
	})
}

func pssCELHostPathVolumes(b *pssCEL) {
	const fix = "forbids hostPath volumes: use a persistentVolumeClaim, emptyDir, configMap or secret volume instead"
	vols := CELSpec + ".volumes"
	b.add("!has("+vols+") || "+vols+".all(e, !has(e.hostPath))", pssListMsg(vols, "has(e.hostPath)",
		b.msg(CELSpecPath+" + '.volumes[' + string(i) + '].hostPath'", "'volume ' + "+celQuote("e.name")+" + ' mounts host path ' + "+celQuote("e.hostPath.path"), fix),
		celQuote("e.name")+" + ' (' + "+celQuote("e.hostPath.path")+" + ')'",
		func(n, vals string) string {
			return b.msg(CELSpecPath+" + '.volumes'", n+" + ' volumes mount host paths: ' + "+vals, fix)
		}))
}

// pssAllowedVolumes are the sources restrictedVolumes allows, and pssVolumeSources the others, in
// the order of corev1.VolumeSource's fields (which pssVolumeSource names the first of).
var (
	pssAllowedVolumes = []string{"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim", "projected", "secret"}
	pssVolumeSources  = []string{"hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi", "glusterfs", "rbd",
		"flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile", "vsphereVolume", "quobyte", "azureDisk",
		"photonPersistentDisk", "portworxVolume", "scaleIO", "storageos"}
)

func pssCELRestrictedVolumes(b *pssCEL) {
	const fix = "allows only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, " +
		"projected and secret volumes: use one of those, e.g. a persistentVolumeClaim"
	var ok []string
	for _, s := range pssAllowedVolumes {
		ok = append(ok, "has(e."+s+")")
	}
	bad := "!(" + strings.Join(ok, " || ") + ")"
	source := "'no source'"
	for i := len(pssVolumeSources) - 1; i >= 0; i-- {
		source = "(has(e." + pssVolumeSources[i] + ") ? '" + pssVolumeSources[i] + "' : " + source + ")"
	}
	vols := CELSpec + ".volumes"
	b.add("!has("+vols+") || "+vols+".all(e, !("+bad+"))", pssListMsg(vols, bad,
		"("+source+" == 'no source' ? "+b.msg(CELSpecPath+" + '.volumes[' + string(i) + ']'", "'volume ' + "+celQuote("e.name")+" + ' has no allowed volume source'", fix)+
			" : "+b.msg(CELSpecPath+" + '.volumes[' + string(i) + '].' + "+source, "'volume ' + "+celQuote("e.name")+" + ' is a ' + "+source+" + ' volume'", fix)+")",
		celQuote("e.name")+" + ' (' + "+source+" + ')'",
		func(n, vals string) string {
			return b.msg(CELSpecPath+" + '.volumes'", n+" + ' volumes have a type that is not allowed: ' + "+vals, fix)
		}))
}

func pssCELAllowPrivilegeEscalation(b *pssCEL) {
	const fix = "requires every container to set securityContext.allowPrivilegeEscalation=false: set it to false"
	b.containers("c.?securityContext.?allowPrivilegeEscalation.orValue(true) == false", func(p string) string {
		return b.msg(p+" + '.securityContext.allowPrivilegeEscalation'",
			"(has(c.securityContext) && has(c.securityContext.allowPrivilegeEscalation) ? "+celOwner+" + ' sets securityContext.allowPrivilegeEscalation=true' : "+
				celOwner+" + ' does not set securityContext.allowPrivilegeEscalation, which defaults to true')", fix)
	})
	if b.atLeast(25) {
		b.unless(celWindows, 1)
	}
}

// pssBaselineCapabilities are the capabilities the baseline level lets a container add.
var pssBaselineCapabilities = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

// capabilitiesAdd adds the validation of securityContext.capabilities.add: bad is a CEL condition
// over the capability e.
func (b *pssCEL) capabilitiesAdd(bad, allowed string) {
	add := "c.securityContext.capabilities.add"
	b.containers("!has(c.securityContext) || !has(c.securityContext.capabilities) || !has("+add+") || "+add+".all(e, !("+bad+"))",
		func(p string) string {
			path := p + " + '.securityContext.capabilities"
			return pssListMsg(add, bad,
				b.msg(path+".add[' + string(i) + ']'", celOwner+" + ' adds capability ' + "+celQuote("e"), allowed+": remove it from securityContext.capabilities.add"),
				celQuote("e"),
				func(n, vals string) string {
					return b.msg(path+".add'", celOwner+" + ' adds ' + "+n+" + ' capabilities that are not allowed: ' + "+vals,
						allowed+": remove them from securityContext.capabilities.add")
				})
		})
}

func pssCELCapabilitiesBaseline(b *pssCEL) {
	b.capabilitiesAdd("!(e in "+pssCELStrings(pssBaselineCapabilities)+")", "forbids adding capabilities beyond the container runtime's defaults")
}

func pssCELCapabilitiesRestricted(b *pssCEL) {
	drop := "c.securityContext.capabilities.drop"
	b.containers("has(c.securityContext) && has(c.securityContext.capabilities) && has("+drop+") && "+drop+".exists(d, d == 'ALL')",
		func(p string) string {
			dropped := "c.?securityContext.?capabilities.?drop.orValue([])"
			return b.msg(p+" + '.securityContext.capabilities.drop'",
				"(size("+dropped+") == 0 ? "+celOwner+" + ' does not set securityContext.capabilities.drop' : "+
					celOwner+" + ' drops ' + "+pssList(dropped+".map(d, "+celQuote("d")+")")+" + ' but not \"ALL\"')",
				`requires every container to drop all capabilities: set securityContext.capabilities.drop=["ALL"]`)
		})
	b.capabilitiesAdd("e != 'NET_BIND_SERVICE'", "allows adding only NET_BIND_SERVICE")
	if b.atLeast(25) {
		b.unless(celWindows, 2)
	}
}

func pssCELProcMount(b *pssCEL) {
	b.containers("c.?securityContext.?procMount.orValue('Default') == 'Default'", func(p string) string {
		return b.msg(p+" + '.securityContext.procMount'", celOwner+" + ' sets securityContext.procMount=' + "+celQuote("c.securityContext.procMount"),
			`requires the default /proc masks: remove it or set it to "Default"`)
	})
	// From v1.35 the baseline check lets pods in a user namespace unmask /proc; the restricted one does not.
	if b.id == "procMount" && b.atLeast(35) {
		b.unless(pssUserNS, 1)
	}
}

func pssCELSysctls(b *pssCEL) {
	allowed := []string{"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
		"net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"}
	for _, add := range []struct {
		minor int
		names []string
	}{
		{27, []string{"net.ipv4.ip_local_reserved_ports"}},
		{29, []string{"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}},
		{32, []string{"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}},
		{37, []string{"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"}},
	} {
		if b.atLeast(add.minor) {
			allowed = append(allowed, add.names...)
		}
	}
	const fix = "allows only the safe, namespaced sysctls at this version: remove"
	list := CELSpec + ".securityContext.sysctls"
	bad := "!(e.name in " + pssCELStrings(allowed) + ")"
	b.add("!has("+CELSpec+".securityContext) || !has("+list+") || "+list+".all(e, !("+bad+"))", pssListMsg(list, bad,
		b.msg(CELSpecPath+" + '.securityContext.sysctls[' + string(i) + '].name'", "'pod sets sysctl ' + "+celQuote("e.name"), fix+" it"),
		celQuote("e.name"),
		func(n, vals string) string {
			return b.msg(CELSpecPath+" + '.securityContext.sysctls'", "'pod sets ' + "+n+" + ' sysctls that are not allowed: ' + "+vals, fix+" them")
		}))
}

func pssCELWindowsHostProcess(b *pssCEL) {
	const fix = "forbids Windows HostProcess containers: remove it or set it to false"
	b.add("!"+CELSpec+".?securityContext.?windowsOptions.?hostProcess.orValue(false)",
		b.msg(CELSpecPath+" + '.securityContext.windowsOptions.hostProcess'", "'pod sets securityContext.windowsOptions.hostProcess=true'", fix))
	b.containers("!c.?securityContext.?windowsOptions.?hostProcess.orValue(false)", func(p string) string {
		return b.msg(p+" + '.securityContext.windowsOptions.hostProcess'", celOwner+" + ' sets securityContext.windowsOptions.hostProcess=true'", fix)
	})
}

// pssCELHostProbesAndHostLifecycle is one validation of every handler of every container; the
// message names the first handler aimed at a host.
func pssCELHostProbesAndHostLifecycle(b *pssCEL) {
	const fix = "forbids probes and lifecycle handlers aimed at another host: remove host, so that the handler targets the pod's own IP"
	var fields, hosts []string
	for _, h := range [...]string{"livenessProbe", "readinessProbe", "startupProbe", "lifecycle.postStart", "lifecycle.preStop"} {
		for _, action := range [...]string{"httpGet", "tcpSocket"} {
			fields = append(fields, h+"."+action+".host")
			hosts = append(hosts, "c.?"+strings.ReplaceAll(h, ".", ".?")+".?"+action+".?host.orValue('')")
		}
	}
	// The message picks the first [field, host] pair with a host, so each host is read once.
	pairs := make([]string, len(hosts))
	for i := range hosts {
		pairs[i] = "['" + fields[i] + "', string(" + hosts[i] + ")]"
	}
	b.containers(strings.Join(hosts, " == '' && ")+" == ''", func(p string) string {
		return "[" + strings.Join(pairs, ", ") + "].filter(x, x[1] != '').map(x, " +
			b.msg(p+" + '.' + x[0]", celOwner+" + ' sets ' + x[0] + '=' + "+celQuote("x[1]"), fix) + ")[0]"
	})
}

func pssCELRunAsNonRoot(b *pssCEL) {
	const fix = "requires containers to run as non-root: "
	pod := CELSpec + ".?securityContext.?runAsNonRoot"
	b.add(pod+".orValue(true) != false", b.msg(CELSpecPath+" + '.securityContext.runAsNonRoot'", "'pod sets securityContext.runAsNonRoot=false'", fix+"set it to true"))
	b.containers("c.?securityContext.?runAsNonRoot.orValue(true) != false", func(p string) string {
		return b.msg(p+" + '.securityContext.runAsNonRoot'", celOwner+" + ' sets securityContext.runAsNonRoot=false'", fix+"set it to true")
	})
	// A container that leaves it unset inherits the pod's: when the pod sets it, true passes and
	// false is denied above.
	b.podOrEveryContainer("runAsNonRoot", "'.securityContext.runAsNonRoot'",
		fix+"set securityContext.runAsNonRoot=true on the pod", fix+"set it to true on the container or the pod")
	if b.atLeast(35) {
		b.unless(pssUserNS, 3)
	}
}

func pssCELRunAsUser(b *pssCEL) {
	const fix = "forbids running as root (UID 0): set runAsUser to a non-zero UID, or remove it and set runAsNonRoot=true"
	b.add(CELSpec+".?securityContext.?runAsUser.orValue(1) != 0",
		b.msg(CELSpecPath+" + '.securityContext.runAsUser'", "'pod sets securityContext.runAsUser=0'", fix))
	b.containers("c.?securityContext.?runAsUser.orValue(1) != 0", func(p string) string {
		return b.msg(p+" + '.securityContext.runAsUser'", celOwner+" + ' sets securityContext.runAsUser=0'", fix)
	})
	if b.atLeast(35) {
		b.unless(pssUserNS, 2)
	}
}

// seccompFields adds the validations of the seccomp profile types set on the pod and containers.
func (b *pssCEL) seccompFields() {
	b.profileTypes("seccompProfile", `allows only the RuntimeDefault and Localhost seccomp profiles: set it to "RuntimeDefault"`)
}

// podOrEveryContainer adds the validation that securityContext.<field> is set on the pod or on
// every container (a container that leaves it unset inherits the pod's). path is the CEL string
// of the offending field's path after the pod spec or container; the fixes are for the pod, when
// nothing sets it, and for the first container that does not.
func (b *pssCEL) podOrEveryContainer(field, path, podFix, containerFix string) {
	set := "has(c.securityContext) && has(c.securityContext." + field + ")"
	b.add(CELSpec+".?securityContext.?"+field+".hasValue() || ("+pssAll(set)+")",
		"("+pssAll("!("+set+")")+" ? "+b.msg(CELSpecPath+" + "+path, "'neither the pod nor any container sets securityContext."+field+"'", podFix)+
			" : "+pssFirst(set, func(p string) string {
			return b.msg(p+" + "+path, celOwner+" + ' does not set securityContext."+field+", nor does the pod'", containerFix)
		})+")")
}

// profileTypes adds the validations that securityContext.<field>.type, where the pod or a container
// sets it, is RuntimeDefault or Localhost (the seccomp and AppArmor profiles).
func (b *pssCEL) profileTypes(field, fix string) {
	ok := func(t string) string { return t + " in ['RuntimeDefault', 'Localhost']" }
	path, said := "'.securityContext."+field+".type'", " sets securityContext."+field+".type=' + "
	pod := CELSpec + ".?securityContext.?" + field
	b.add("!"+pod+".hasValue() || "+ok(pod+".?type.orValue('')"),
		b.msg(CELSpecPath+" + "+path, "'pod"+said+celQuote(pod+".?type.orValue('')"), fix))
	ct := "c.?securityContext.?" + field
	b.containers("!"+ct+".hasValue() || "+ok(ct+".?type.orValue('')"), func(p string) string {
		return b.msg(p+" + "+path, celOwner+" + '"+said+celQuote(ct+".?type.orValue('')"), fix)
	})
}

func pssCELSeccompBaseline(b *pssCEL) {
	if b.atLeast(19) {
		b.seccompFields()
		return
	}
	// Before v1.19: the seccomp annotations of the pod and of its containers, by name.
	const podKey, prefix = "seccomp.security.alpha.kubernetes.io/pod", "container.seccomp.security.alpha.kubernetes.io/"
	var names []string
	for _, k := range celLists {
		names = append(names, celList(k)+".filter(c, !"+celGenerated(k)+").map(c, c.name)")
	}
	bad := "(k == '" + podKey + "' || (k.startsWith('" + prefix + "') && k.substring(" + strconv.Itoa(len(prefix)) + ") in " +
		strings.Join(names, " + ") + ")) && !(v == 'runtime/default' || v == 'docker/default' || v.startsWith('localhost/'))"
	b.annotations(bad, `allows only the runtime/default, docker/default and localhost/* seccomp profiles: `+
		`set it to "runtime/default", or use securityContext.seccompProfile`)
}

func pssCELSeccompRestricted(b *pssCEL) {
	b.seccompFields()
	// A container that sets no profile inherits the pod's; a forbidden pod profile is denied above.
	const missing = `requires a seccomp profile: set securityContext.seccompProfile.type="RuntimeDefault"`
	b.podOrEveryContainer("seccompProfile", "'.securityContext.seccompProfile.type'", missing+" on the pod", missing+" on the container or the pod")
	if b.atLeast(25) {
		b.unless(celWindows, 3)
	}
}

func pssCELAppArmorProfile(b *pssCEL) {
	b.profileTypes("appArmorProfile", `allows only the RuntimeDefault and Localhost AppArmor profiles: set it to "RuntimeDefault" or remove it`)
	b.annotations("k.startsWith('container.apparmor.security.beta.kubernetes.io/') && !(v == '' || v == 'runtime/default' || v.startsWith('localhost/'))",
		`allows only the runtime/default and localhost/* AppArmor profiles: remove the annotation or set it to "runtime/default"`)
}

// annotations adds the validation of the pod's annotations: bad is a CEL condition over the key k
// and value v. One offending annotation is named at its key, several at the annotations.
func (b *pssCEL) annotations(bad, fix string) {
	ann := CELAnnotations
	keys := ann + ".transformList(k, v, " + bad + ", k)"
	key := "(size(k) > " + strconv.Itoa(MaxValueBytes) + " ? k.substring(0, " + strconv.Itoa(MaxValueBytes-1) + ") + '…' : k)"
	b.add(ann+".all(k, v, !("+bad+"))", "(size("+keys+") == 1 ? "+
		ann+".transformList(k, v, "+bad+", "+b.msg(CELMetaPath+" + '.annotations[' + "+key+" + ']'", "'annotation ' + "+celQuote("k")+" + ' is ' + "+celQuote("v"), fix)+")[0] : "+
		b.msg(CELMetaPath+" + '.annotations'", "string(size("+keys+")) + ' annotations set profiles that are not allowed: ' + "+pssList(keys+".map(k, "+celQuote("k")+")"), fix)+")")
}

// pssSELinuxTypes are the SELinux types the baseline level allows; v1.31 added container_engine_t.
var pssSELinuxTypes = []string{"", "container_t", "container_init_t", "container_kvm_t"}

func pssCELSELinuxOptions(b *pssCEL) {
	types := pssSELinuxTypes
	if b.atLeast(31) {
		types = append(types[:len(types):len(types)], "container_engine_t")
	}
	fields := []struct{ field, bad, fix string }{
		{"type", "!(o.?type.orValue('') in " + pssCELStrings(types) + ")", "allows only the container runtime's own SELinux types, such as container_t: remove it"},
		{"user", "o.?user.orValue('') != ''", "forbids setting an SELinux user: remove it"},
		{"role", "o.?role.orValue('') != ''", "forbids setting an SELinux role: remove it"},
	}
	// msg names the first offending option of o, owned by owner, under the path p.
	msg := func(p, owner string) string {
		out := "''"
		for i := len(fields) - 1; i >= 0; i-- {
			f := fields[i]
			out = "(" + f.bad + " ? " + b.msg(p+" + '.securityContext.seLinuxOptions."+f.field+"'",
				owner+" + ' sets securityContext.seLinuxOptions."+f.field+"=' + "+celQuote("o."+f.field), f.fix) + " : " + out + ")"
		}
		return out
	}
	var bad []string
	for _, f := range fields {
		bad = append(bad, f.bad)
	}
	allowed := "!(" + strings.Join(bad, " || ") + ")"
	pod := CELSpec + ".?securityContext.?seLinuxOptions"
	b.add("!"+pod+".hasValue() || ["+pod+".value()].all(o, "+allowed+")",
		"["+pod+".value()].map(o, "+msg(CELSpecPath, "'pod'")+")[0]")
	ct := "c.?securityContext.?seLinuxOptions"
	b.containers("!"+ct+".hasValue() || ["+ct+".value()].all(o, "+allowed+")", func(p string) string {
		return "[" + ct + ".value()].map(o, " + msg(p, celOwner) + ")[0]"
	})
}
