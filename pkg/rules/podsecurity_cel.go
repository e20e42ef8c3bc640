package rules

import (
	"strconv"
	"strings"

	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
)

// The Pod Security Standards checks as ValidatingAdmissionPolicy CEL (issue 12). Each upstream
// check (k8s.io/pod-security-admission/policy/check_*.go) is written out at the version the policy
// pins ("latest" is the newest), with the restricted-over-baseline overrides the evaluator applies,
// so that the CEL denies what upstream denies. The messages name the field path and say what the
// locators (podsecurity_locate.go) say; a list field holding several offending entries is named
// once, as the locators do.

// pssCELCheck is the CEL compiler of one upstream check at a version.
type pssCELCheck func(b *pssCEL)

// pssCELChecks maps each upstream check ID to its CEL. A test asserts that every check has one.
var pssCELChecks = map[psapolicy.CheckID]pssCELCheck{
	"allowPrivilegeEscalation":   pssCELAllowPrivilegeEscalation,
	"appArmorProfile":            pssCELAppArmorProfile,
	"capabilities_baseline":      pssCELCapabilitiesBaseline,
	"capabilities_restricted":    pssCELCapabilitiesRestricted,
	"hostNamespaces":             pssCELHostNamespaces,
	"hostPathVolumes":            pssCELHostPathVolumes,
	"hostPorts":                  pssCELHostPorts,
	"hostProbesAndHostLifecycle": pssCELHostProbesAndHostLifecycle,
	"privileged":                 pssCELPrivileged,
	"procMount":                  pssCELProcMount,
	"procMount_restricted":       pssCELProcMount,
	"restrictedVolumes":          pssCELRestrictedVolumes,
	"runAsNonRoot":               pssCELRunAsNonRoot,
	"runAsUser":                  pssCELRunAsUser,
	"seLinuxOptions":             pssCELSELinuxOptions,
	"seccompProfile_baseline":    pssCELSeccompBaseline,
	"seccompProfile_restricted":  pssCELSeccompRestricted,
	"sysctls":                    pssCELSysctls,
	"windowsHostProcess":         pssCELWindowsHostProcess,
}

// pssCEL builds the validations of one check.
type pssCEL struct {
	id psapolicy.CheckID
	// v is the effective version (never "latest").
	v psaapi.Version
	// standard names the level and version in messages, as the webhook's do.
	standard string
	exact    bool
	note     string
	out      []CELCheck
}

// atLeast reports whether the evaluated version is 1.minor or newer.
func (b *pssCEL) atLeast(minor int) bool { return !b.v.Older(psaapi.MajorMinorVersion(1, minor)) }

// add appends a validation: expr is true when allowed, msg the CEL string of the message.
func (b *pssCEL) add(expr, msg string) {
	b.out = append(b.out, CELCheck{Rule: "podSecurity." + string(b.id), Expression: expr, MessageExpression: msg,
		Exact: b.exact, Note: b.note})
}

// msg is the CEL of a message: path, what was found (CEL strings), then the standard and the fix.
func (b *pssCEL) msg(path, what, fix string) string {
	return path + " + ': ' + " + what + " + " + celText("; "+b.standard+" "+fix)
}

// pssCompileCEL compiles cfg: the checks upstream runs at its level and version, less those it
// excludes for the whole pod, plus the baseline checks that an excluded restricted check leaves in
// force. An exclusion limited to images is compiled without it (conservative).
func pssCompileCEL(cfg *pssConfig) []CELCheck {
	c, err := defaultPSS()
	if err != nil {
		return []CELCheck{{Rule: "podSecurity", Expression: "false", Exact: true,
			MessageExpression: CELSpecPath + " + " + celText(": the Pod Security Standards checks could not be loaded; report this as a bug")}}
	}
	v := c.effective(cfg.Version)
	levels := map[psapolicy.CheckID]psaapi.Level{}
	for _, chk := range psapolicy.DefaultChecks() {
		levels[chk.ID] = chk.Level
	}
	// The checks in force at v, by ID; at the restricted level without the baseline ones overridden.
	active := map[psapolicy.CheckID]bool{}
	overrides := map[psapolicy.CheckID][]psapolicy.CheckID{}
	for id := range c.checks {
		if c.checkAt(id, v) == nil || (levels[id] == psaapi.LevelRestricted && cfg.Level != psaapi.LevelRestricted) {
			continue
		}
		active[id] = true
		if levels[id] == psaapi.LevelRestricted {
			overrides[id] = c.overridden(id, v)
		}
	}
	for _, ids := range overrides {
		for _, o := range ids {
			delete(active, o)
		}
	}
	type job struct {
		id    psapolicy.CheckID
		level psaapi.Level
		note  string
	}
	var jobs []job
	const imagesNote = "podSecurity.exclude lists images for %s: the VAP does not exempt those containers from it"
	for id := range active {
		ex := cfg.exclude[id]
		if !ex.whole() {
			note := ""
			if ex != nil {
				note = strings.Replace(imagesNote, "%s", string(id), 1)
			}
			jobs = append(jobs, job{id, cfg.Level, note})
		}
		if ex == nil {
			continue
		}
		// What the exclusion exempts stays held to the baseline checks the restricted one replaces.
		for _, o := range overrides[id] {
			if bex := cfg.exclude[o]; !bex.whole() {
				note := ""
				if bex != nil || !ex.whole() {
					note = "podSecurity.exclude lists images for " + string(id) + " or " + string(o) +
						": the VAP holds every container to " + string(o)
				}
				jobs = append(jobs, job{o, psaapi.LevelBaseline, note})
			}
		}
	}
	// Sorted by ID, so that the generated policy is stable.
	for i := range jobs {
		for j := i + 1; j < len(jobs); j++ {
			if jobs[j].id < jobs[i].id {
				jobs[i], jobs[j] = jobs[j], jobs[i]
			}
		}
	}
	var out []CELCheck
	for _, j := range jobs {
		b := &pssCEL{id: j.id, v: v, standard: c.standard(psaapi.LevelVersion{Level: j.level, Version: cfg.Version}),
			exact: j.note == "", note: j.note}
		if f := pssCELChecks[j.id]; f != nil {
			f(b)
		} else {
			// A check newer than this code: deny every pod rather than admit what it forbids.
			b.exact, b.note = false, "no CEL for check "+string(j.id)+": the VAP denies every pod"
			b.add("false", CELSpecPath+" + "+celText(": the "+string(j.id)+" check has no CEL; "+b.standard+" is enforced by the webhook"))
		}
		out = append(out, b.out...)
	}
	return out
}

// Container helpers: allowed is a CEL expression over the container c.

// pssAll is true when allowed holds for every container of every list.
func pssAll(allowed string) string {
	var parts []string
	for _, k := range celLists {
		l := CELSpec + "." + k.Field()
		parts = append(parts, "(!has("+l+") || "+l+".all(c, "+allowed+"))")
	}
	return strings.Join(parts, " && ")
}

// pssFirst is the CEL message of the first container, in visiting order, where allowed is false;
// msg is a function of the CEL of that container's path.
func pssFirst(allowed string, msg func(path string) string) string {
	var parts []string
	for _, k := range celLists {
		l := CELSpec + "." + k.Field()
		path := "(" + CELSpecPath + " + '." + k.Field() + "[' + string(i) + ']')"
		parts = append(parts, "(has("+l+") ? "+l+".transformList(i, c, !("+allowed+"), "+msg(path)+") : [])")
	}
	return "(" + strings.Join(parts, " + ") + ")[0]"
}

// containers adds a validation of every container.
func (b *pssCEL) containers(allowed string, msg func(path string) string) {
	b.add(pssAll(allowed), pssFirst(allowed, msg))
}

// unless makes the last n validations pass when cond holds (a Windows pod, a user namespace).
func (b *pssCEL) unless(cond string, n int) {
	for i := len(b.out) - n; i < len(b.out); i++ {
		b.out[i].Expression = cond + " || (" + b.out[i].Expression + ")"
	}
}

// pssUserNS is upstream's relaxPolicyForUserNamespacePod: the pod sets hostUsers=false.
const pssUserNS = "(" + CELSpec + ".?hostUsers.orValue(true) == false)"

// pssList renders the offending entries of a list for a message as entries.join does: the first
// MaxListedValues of vals (a CEL list of strings), then "… (N more)".
func pssList(vals string) string {
	n := strconv.Itoa(MaxListedValues)
	return "(" + vals + ".transformList(j, s, j < " + n + ", s).join(', ') + (size(" + vals + ") > " + n +
		" ? ', … (' + string(size(" + vals + ") - " + n + ") + ' more)' : ''))"
}

// pssListMsg is the message of a list field with offending entries: list is its CEL, bad a CEL
// condition over its index i and entry e; one offending entry is named by single (a CEL message
// over i and e), several by many (a function of their count and their rendered values, each
// rendered by render, a CEL string over i and e).
func pssListMsg(list, bad, single, render string, many func(count, values string) string) string {
	vals := list + ".transformList(i, e, " + bad + ", " + render + ")"
	return "(size(" + vals + ") == 1 ? " + list + ".transformList(i, e, " + bad + ", " + single + ")[0] : " +
		many("string(size("+vals+"))", pssList(vals)) + ")"
}

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

func pssCELHostProbesAndHostLifecycle(b *pssCEL) {
	const fix = "forbids probes and lifecycle handlers aimed at another host: remove host, so that the handler targets the pod's own IP"
	for _, h := range [...]string{"livenessProbe", "readinessProbe", "startupProbe", "lifecycle.postStart", "lifecycle.preStop"} {
		opt := "c.?" + strings.ReplaceAll(h, ".", ".?")
		for _, action := range [...]string{"httpGet", "tcpSocket"} {
			host := opt + ".?" + action + ".?host.orValue('')"
			b.containers(host+" == ''", func(p string) string {
				return b.msg(p+" + '."+h+"."+action+".host'", celOwner+" + ' sets "+h+"."+action+".host=' + "+celQuote(host), fix)
			})
		}
	}
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
	set := "has(c.securityContext) && has(c.securityContext.runAsNonRoot)"
	b.add(pod+".hasValue() || ("+pssAll(set)+")",
		"("+pssAll("!("+set+")")+" ? "+b.msg(CELSpecPath+" + '.securityContext.runAsNonRoot'", "'neither the pod nor any container sets securityContext.runAsNonRoot'",
			fix+"set securityContext.runAsNonRoot=true on the pod")+" : "+pssFirst(set, func(p string) string {
			return b.msg(p+" + '.securityContext.runAsNonRoot'", celOwner+" + ' does not set securityContext.runAsNonRoot, nor does the pod'",
				fix+"set it to true on the container or the pod")
		})+")")
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
	const fix = `allows only the RuntimeDefault and Localhost seccomp profiles: set it to "RuntimeDefault"`
	ok := func(t string) string { return t + " in ['RuntimeDefault', 'Localhost']" }
	pod := CELSpec + ".?securityContext.?seccompProfile"
	b.add("!"+pod+".hasValue() || "+ok(pod+".?type.orValue('')"),
		b.msg(CELSpecPath+" + '.securityContext.seccompProfile.type'", "'pod sets securityContext.seccompProfile.type=' + "+celQuote(pod+".?type.orValue('')"), fix))
	ct := "c.?securityContext.?seccompProfile"
	b.containers("!"+ct+".hasValue() || "+ok(ct+".?type.orValue('')"), func(p string) string {
		return b.msg(p+" + '.securityContext.seccompProfile.type'", celOwner+" + ' sets securityContext.seccompProfile.type=' + "+celQuote(ct+".?type.orValue('')"), fix)
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
		l := CELSpec + "." + k.Field()
		names = append(names, "(has("+l+") ? "+l+".map(c, c.name) : [])")
	}
	bad := "(k == '" + podKey + "' || (k.startsWith('" + prefix + "') && k.substring(" + strconv.Itoa(len(prefix)) + ") in " +
		strings.Join(names, " + ") + ")) && !(v == 'runtime/default' || v == 'docker/default' || v.startsWith('localhost/'))"
	b.annotations(bad, `allows only the runtime/default, docker/default and localhost/* seccomp profiles: `+
		`set it to "runtime/default", or use securityContext.seccompProfile`)
}

func pssCELSeccompRestricted(b *pssCEL) {
	b.seccompFields()
	// A container that sets no profile inherits the pod's; a forbidden pod profile is denied above.
	set := "has(c.securityContext) && has(c.securityContext.seccompProfile)"
	const missing = `requires a seccomp profile: set securityContext.seccompProfile.type="RuntimeDefault"`
	b.add(CELSpec+".?securityContext.?seccompProfile.hasValue() || ("+pssAll(set)+")",
		"("+pssAll("!("+set+")")+" ? "+b.msg(CELSpecPath+" + '.securityContext.seccompProfile.type'",
			"'neither the pod nor any container sets securityContext.seccompProfile'", missing+" on the pod")+" : "+
			pssFirst(set, func(p string) string {
				return b.msg(p+" + '.securityContext.seccompProfile.type'", celOwner+" + ' does not set securityContext.seccompProfile, nor does the pod'",
					missing+" on the container or the pod")
			})+")")
	if b.atLeast(25) {
		b.unless(celWindows, 3)
	}
}

func pssCELAppArmorProfile(b *pssCEL) {
	const fix = `allows only the RuntimeDefault and Localhost AppArmor profiles: set it to "RuntimeDefault" or remove it`
	ok := func(t string) string { return t + " in ['RuntimeDefault', 'Localhost']" }
	pod := CELSpec + ".?securityContext.?appArmorProfile"
	b.add("!"+pod+".hasValue() || "+ok(pod+".?type.orValue('')"),
		b.msg(CELSpecPath+" + '.securityContext.appArmorProfile.type'", "'pod sets securityContext.appArmorProfile.type=' + "+celQuote(pod+".?type.orValue('')"), fix))
	ct := "c.?securityContext.?appArmorProfile"
	b.containers("!"+ct+".hasValue() || "+ok(ct+".?type.orValue('')"), func(p string) string {
		return b.msg(p+" + '.securityContext.appArmorProfile.type'", celOwner+" + ' sets securityContext.appArmorProfile.type=' + "+celQuote(ct+".?type.orValue('')"), fix)
	})
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

// pssCELStrings is a CEL list literal of the strings.
func pssCELStrings(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = celText(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
