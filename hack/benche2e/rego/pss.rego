# The Pod Security Standards, restricted level (which includes baseline), for a Pod in an
# AdmissionReview, written the way a Gatekeeper ConstraintTemplate would: one deny message per
# violation. It is a benchmark peer, not a policy to run: it covers the checks listed in
# docs/performance.md ("Direct HTTPS, side by side") and reads only Pods.
package pss

import rego.v1

pod := input.request.object

spec := object.get(pod, "spec", {})

containers := array.concat(
	array.concat(object.get(spec, "containers", []), object.get(spec, "initContainers", [])),
	object.get(spec, "ephemeralContainers", []),
)

pod_sc := object.get(spec, "securityContext", {})

# ---- baseline -------------------------------------------------------------------------------------

deny contains sprintf("spec.%s: host namespaces are forbidden", [f]) if {
	some f in ["hostNetwork", "hostPID", "hostIPC"]
	spec[f] == true
}

deny contains "spec.securityContext.windowsOptions.hostProcess: forbidden" if {
	pod_sc.windowsOptions.hostProcess == true
}

deny contains sprintf("container %q: securityContext.windowsOptions.hostProcess is forbidden", [c.name]) if {
	some c in containers
	c.securityContext.windowsOptions.hostProcess == true
}

deny contains sprintf("container %q: securityContext.privileged is forbidden", [c.name]) if {
	some c in containers
	c.securityContext.privileged == true
}

baseline_caps := {
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

deny contains sprintf("container %q: capability %s may not be added", [c.name, cap]) if {
	some c in containers
	some cap in object.get(c, ["securityContext", "capabilities", "add"], [])
	not cap in baseline_caps
}

deny contains sprintf("volume %q: hostPath volumes are forbidden", [v.name]) if {
	some v in object.get(spec, "volumes", [])
	v.hostPath
}

deny contains sprintf("container %q: hostPort %d is forbidden", [c.name, p.hostPort]) if {
	some c in containers
	some p in object.get(c, "ports", [])
	p.hostPort != 0
}

deny contains sprintf("annotation %s: AppArmor profile %q is forbidden", [k, v]) if {
	some k, v in object.get(pod, ["metadata", "annotations"], {})
	startswith(k, "container.apparmor.security.beta.kubernetes.io/")
	v != "runtime/default"
	not startswith(v, "localhost/")
}

deny contains "spec.securityContext.appArmorProfile: type Unconfined is forbidden" if {
	pod_sc.appArmorProfile.type == "Unconfined"
}

deny contains sprintf("container %q: appArmorProfile type Unconfined is forbidden", [c.name]) if {
	some c in containers
	c.securityContext.appArmorProfile.type == "Unconfined"
}

selinux_types := {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

selinux_bad(o) if not object.get(o, "type", "") in selinux_types

selinux_bad(o) if object.get(o, "user", "") != ""

selinux_bad(o) if object.get(o, "role", "") != ""

deny contains "spec.securityContext.seLinuxOptions: forbidden type, user or role" if {
	selinux_bad(pod_sc.seLinuxOptions)
}

deny contains sprintf("container %q: seLinuxOptions has a forbidden type, user or role", [c.name]) if {
	some c in containers
	selinux_bad(c.securityContext.seLinuxOptions)
}

deny contains sprintf("container %q: procMount must be Default", [c.name]) if {
	some c in containers
	object.get(c, ["securityContext", "procMount"], "Default") != "Default"
}

safe_sysctls := {
	"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
}

deny contains sprintf("sysctl %s is not safe", [s.name]) if {
	some s in object.get(pod_sc, "sysctls", [])
	not s.name in safe_sysctls
}

# ---- restricted -----------------------------------------------------------------------------------

allowed_volume_sources := {
	"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
	"persistentVolumeClaim", "projected", "secret",
}

deny contains sprintf("volume %q: source %s is not allowed", [v.name, k]) if {
	some v in object.get(spec, "volumes", [])
	some k, _ in v
	k != "name"
	not k in allowed_volume_sources
}

deny contains sprintf("container %q: allowPrivilegeEscalation must be false", [c.name]) if {
	some c in containers
	object.get(c, ["securityContext", "allowPrivilegeEscalation"], true) != false
}

# runAsNonRoot: the container's setting wins; without one, the pod's.
non_root(c) if c.securityContext.runAsNonRoot == true

non_root(c) if {
	not has_key(object.get(c, "securityContext", {}), "runAsNonRoot")
	pod_sc.runAsNonRoot == true
}

has_key(o, k) if _ = o[k]

deny contains sprintf("container %q: runAsNonRoot must be true", [c.name]) if {
	some c in containers
	not non_root(c)
}

deny contains "spec.securityContext.runAsUser: must not be 0" if pod_sc.runAsUser == 0

deny contains sprintf("container %q: runAsUser must not be 0", [c.name]) if {
	some c in containers
	c.securityContext.runAsUser == 0
}

seccomp_ok(p) if p.type in {"RuntimeDefault", "Localhost"}

container_seccomp_ok(c) if seccomp_ok(c.securityContext.seccompProfile)

container_seccomp_ok(c) if {
	not c.securityContext.seccompProfile
	seccomp_ok(pod_sc.seccompProfile)
}

deny contains sprintf("container %q: seccompProfile must be RuntimeDefault or Localhost", [c.name]) if {
	some c in containers
	not container_seccomp_ok(c)
}

deny contains "spec.securityContext.seccompProfile: type must be RuntimeDefault or Localhost" if {
	pod_sc.seccompProfile
	not seccomp_ok(pod_sc.seccompProfile)
}

deny contains sprintf("container %q: capabilities must drop ALL", [c.name]) if {
	some c in containers
	not "ALL" in object.get(c, ["securityContext", "capabilities", "drop"], [])
}

deny contains sprintf("container %q: only NET_BIND_SERVICE may be added", [c.name]) if {
	some c in containers
	some cap in object.get(c, ["securityContext", "capabilities", "add"], [])
	cap != "NET_BIND_SERVICE"
}
