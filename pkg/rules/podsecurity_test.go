package rules

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
)

// pssPolicy compiles a policy with only spec.podSecurity.
func pssPolicy(tb testing.TB, level, version string) *policy.Policy {
	tb.Helper()
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: v1alpha1.PolicySpec{PodSecurity: &v1alpha1.PodSecurity{Level: level, Version: version}}})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// pssRestrictedContainer is a container that meets the restricted standard on its own.
func pssRestrictedContainer(name string) corev1.Container {
	return corev1.Container{Name: name, Image: "registry.example.com/" + name + ":1.0",
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}}
}

// pssCompliantPod meets the restricted standard at every version: an init container and two containers.
func pssCompliantPod() *corev1.Pod {
	return &corev1.Pod{Spec: corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		InitContainers: []corev1.Container{pssRestrictedContainer("init")},
		Containers:     []corev1.Container{pssRestrictedContainer("app"), pssRestrictedContainer("sidecar")},
	}}
}

func TestPodSecurityLocatorForEveryUpstreamCheck(t *testing.T) {
	for _, c := range psapolicy.DefaultChecks() {
		if pssLocators[c.ID] == nil {
			t.Errorf("upstream check %q has no locator: its findings fall back to the pod spec", c.ID)
		}
	}
	if _, err := defaultPSS(); err != nil {
		t.Fatalf("building the checker over upstream's default checks: %v", err)
	}
}

func TestPodSecurityFindings(t *testing.T) {
	const (
		latestV = "latest, v1.37"
		privFix = "forbids privileged containers: remove it or set it to false"
	)
	std := func(level, v string) string { return "the " + level + " Pod Security Standard (" + v + ")" }
	type tc struct {
		name           string
		level, version string
		// template evaluates the pod as a Deployment's template.
		template bool
		mutate   func(*corev1.Pod)
		want     []Finding
	}
	cases := []tc{
		{name: "compliant restricted", level: "restricted", version: "latest", mutate: func(*corev1.Pod) {}},
		{name: "privileged level allows everything", level: "privileged", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true)
		}},
		{name: "privileged container", level: "baseline", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[1].SecurityContext.Privileged = ptr.To(true)
		}, want: []Finding{{Rule: "podSecurity.privileged", Path: "spec.containers[1].securityContext.privileged", Container: "sidecar",
			Message: `container "sidecar" sets securityContext.privileged=true; ` + std("baseline", latestV) + " " + privFix}}},
		{name: "privileged init container in a template", level: "restricted", version: "v1.22", template: true, mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers[0].SecurityContext.Privileged = ptr.To(true)
		}, want: []Finding{{Rule: "podSecurity.privileged", Path: "spec.template.spec.initContainers[0].securityContext.privileged", Container: "init",
			Message: `container "init" sets securityContext.privileged=true; ` + std("restricted", "v1.22") + " " + privFix}}},
		{name: "privileged ephemeral container", level: "baseline", version: "v1.30", mutate: func(p *corev1.Pod) {
			c := pssRestrictedContainer("debug")
			c.SecurityContext.Privileged = ptr.To(true)
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(c)}}
		}, want: []Finding{{Rule: "podSecurity.privileged", Path: "spec.ephemeralContainers[0].securityContext.privileged", Container: "debug",
			Message: `container "debug" sets securityContext.privileged=true; ` + std("baseline", "v1.30") + " " + privFix}}},
		{name: "host namespaces", level: "baseline", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.HostNetwork, p.Spec.HostIPC = true, true
		}, want: []Finding{
			{Rule: "podSecurity.hostNamespaces", Path: "spec.hostNetwork",
				Message: "pod sets hostNetwork=true; " + std("baseline", latestV) + " forbids sharing the host's namespaces: remove it or set it to false"},
			{Rule: "podSecurity.hostNamespaces", Path: "spec.hostIPC",
				Message: "pod sets hostIPC=true; " + std("baseline", latestV) + " forbids sharing the host's namespaces: remove it or set it to false"},
		}},
		{name: "host port", level: "baseline", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 9090, HostPort: 9090}}
		}, want: []Finding{{Rule: "podSecurity.hostPorts", Path: "spec.containers[0].ports[1].hostPort", Container: "app",
			Message: `container "app" sets ports[1].hostPort=9090; ` + std("baseline", latestV) +
				" forbids host ports: remove hostPort and reach the container through a Service"}}},
		{name: "hostPath volume, baseline", level: "baseline", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{
				{Name: "a", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "b", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
				{Name: "docker", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/run/docker.sock"}}},
			}
		}, want: []Finding{{Rule: "podSecurity.hostPathVolumes", Path: "spec.volumes[2].hostPath",
			Message: `volume "docker" mounts host path "/var/run/docker.sock"; ` + std("baseline", latestV) +
				" forbids hostPath volumes: use a persistentVolumeClaim, emptyDir, configMap or secret volume instead"}}},
		{name: "hostPath and nfs volumes, restricted overrides hostPathVolumes", level: "restricted", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{
				{Name: "docker", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/run/docker.sock"}}},
				{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "share", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs", Path: "/"}}},
			}
		}, want: []Finding{
			{Rule: "podSecurity.restrictedVolumes", Path: "spec.volumes",
				Message: `2 volumes have a type that is not allowed: "docker" (hostPath), "share" (nfs); ` + std("restricted", latestV) +
					" allows only configMap, csi, downwardAPI, emptyDir, " +
					"ephemeral, image, persistentVolumeClaim, projected and secret volumes: use one of those, e.g. a persistentVolumeClaim"},
		}},
		{name: "nfs volume, restricted", level: "restricted", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{
				{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "share", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs", Path: "/"}}},
			}
		}, want: []Finding{
			{Rule: "podSecurity.restrictedVolumes", Path: "spec.volumes[1].nfs",
				Message: `volume "share" is a nfs volume; ` + std("restricted", latestV) + " allows only configMap, csi, downwardAPI, emptyDir, " +
					"ephemeral, image, persistentVolumeClaim, projected and secret volumes: use one of those, e.g. a persistentVolumeClaim"},
		}},
		{name: "runAsNonRoot missing everywhere is the pod's field", level: "restricted", version: "latest", template: true, mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsNonRoot = nil
		}, want: []Finding{{Rule: "podSecurity.runAsNonRoot", Path: "spec.template.spec.securityContext.runAsNonRoot",
			Message: "neither the pod nor any container sets securityContext.runAsNonRoot; " + std("restricted", latestV) +
				" requires containers to run as non-root: set securityContext.runAsNonRoot=true on the pod"}}},
		{name: "runAsNonRoot set by some containers only", level: "restricted", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsNonRoot = nil
			p.Spec.InitContainers[0].SecurityContext.RunAsNonRoot = ptr.To(true)
			p.Spec.Containers[0].SecurityContext.RunAsNonRoot = ptr.To(false)
		}, want: []Finding{
			{Rule: "podSecurity.runAsNonRoot", Path: "spec.containers[0].securityContext.runAsNonRoot", Container: "app",
				Message: `container "app" sets securityContext.runAsNonRoot=false; ` + std("restricted", latestV) +
					" requires containers to run as non-root: set it to true"},
			{Rule: "podSecurity.runAsNonRoot", Path: "spec.containers[1].securityContext.runAsNonRoot", Container: "sidecar",
				Message: `container "sidecar" does not set securityContext.runAsNonRoot, nor does the pod; ` + std("restricted", latestV) +
					" requires containers to run as non-root: set it to true on the container or the pod"},
		}},
		{name: "runAsNonRoot=false on the pod", level: "restricted", version: "v1.30", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsNonRoot = ptr.To(false)
		}, want: []Finding{{Rule: "podSecurity.runAsNonRoot", Path: "spec.securityContext.runAsNonRoot",
			Message: "pod sets securityContext.runAsNonRoot=false; " + std("restricted", "v1.30") +
				" requires containers to run as non-root: set it to true"}}},
		{name: "runAsUser=0 passes v1.22, which has no runAsUser check", level: "restricted", version: "v1.22", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.RunAsUser = ptr.To[int64](0)
		}},
		{name: "runAsUser=0 fails v1.23", level: "restricted", version: "v1.23", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.RunAsUser = ptr.To[int64](0)
		}, want: []Finding{{Rule: "podSecurity.runAsUser", Path: "spec.containers[0].securityContext.runAsUser", Container: "app",
			Message: `container "app" sets securityContext.runAsUser=0; ` + std("restricted", "v1.23") +
				" forbids running as root (UID 0): set runAsUser to a non-zero UID, or remove it and set runAsNonRoot=true"}}},
		{name: "capabilities, baseline", level: "baseline", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"CHOWN", "NET_RAW", "SYS_ADMIN"}
		}, want: []Finding{
			{Rule: "podSecurity.capabilities_baseline", Path: "spec.containers[0].securityContext.capabilities.add", Container: "app",
				Message: `container "app" adds 2 capabilities that are not allowed: "NET_RAW", "SYS_ADMIN"; ` + std("baseline", latestV) +
					" forbids adding capabilities beyond the container runtime's defaults: remove them from securityContext.capabilities.add"},
		}},
		{name: "capabilities, restricted", level: "restricted", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE", "CHOWN"}
			p.Spec.Containers[1].SecurityContext.Capabilities.Drop = []corev1.Capability{"NET_RAW"}
		}, want: []Finding{
			{Rule: "podSecurity.capabilities_restricted", Path: "spec.containers[0].securityContext.capabilities.add[1]", Container: "app",
				Message: `container "app" adds capability "CHOWN"; ` + std("restricted", latestV) +
					" allows adding only NET_BIND_SERVICE: remove it from securityContext.capabilities.add"},
			{Rule: "podSecurity.capabilities_restricted", Path: "spec.containers[1].securityContext.capabilities.drop", Container: "sidecar",
				Message: `container "sidecar" drops "NET_RAW" but not "ALL"; ` + std("restricted", latestV) +
					` requires every container to drop all capabilities: set securityContext.capabilities.drop=["ALL"]`},
		}},
		{name: "seccomp missing, restricted", level: "restricted", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext.SeccompProfile = nil
			p.Spec.Containers[0].SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
		}, want: []Finding{
			{Rule: "podSecurity.seccompProfile_restricted", Path: "spec.initContainers[0].securityContext.seccompProfile.type", Container: "init",
				Message: `container "init" does not set securityContext.seccompProfile, nor does the pod; ` + std("restricted", latestV) +
					` requires a seccomp profile: set securityContext.seccompProfile.type="RuntimeDefault" on the container or the pod`},
			{Rule: "podSecurity.seccompProfile_restricted", Path: "spec.containers[1].securityContext.seccompProfile.type", Container: "sidecar",
				Message: `container "sidecar" does not set securityContext.seccompProfile, nor does the pod; ` + std("restricted", latestV) +
					` requires a seccomp profile: set securityContext.seccompProfile.type="RuntimeDefault" on the container or the pod`},
		}},
		{name: "seccomp Unconfined, baseline", level: "baseline", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[1].SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}, want: []Finding{{Rule: "podSecurity.seccompProfile_baseline", Path: "spec.containers[1].securityContext.seccompProfile.type", Container: "sidecar",
			Message: `container "sidecar" sets securityContext.seccompProfile.type="Unconfined"; ` + std("baseline", latestV) +
				` allows only the RuntimeDefault and Localhost seccomp profiles: set it to "RuntimeDefault"`}}},
		{name: "sysctl allowed at latest", level: "baseline", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.tcp_keepalive_time", Value: "60"}}
		}},
		{name: "sysctls at v1.22", level: "baseline", version: "v1.22", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{
				{Name: "kernel.shm_rmid_forced", Value: "1"},
				{Name: "net.ipv4.tcp_keepalive_time", Value: "60"},
			}
		}, want: []Finding{{Rule: "podSecurity.sysctls", Path: "spec.securityContext.sysctls[1].name",
			Message: `pod sets sysctl "net.ipv4.tcp_keepalive_time"; ` + std("baseline", "v1.22") +
				" allows only the safe, namespaced sysctls at this version: remove it"}}},
		{name: "AppArmor annotation and field", level: "baseline", version: "latest", template: true, mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{
				"container.apparmor.security.beta.kubernetes.io/app":     "unconfined",
				"container.apparmor.security.beta.kubernetes.io/sidecar": "runtime/default",
				"team": "payments",
			}
			p.Spec.SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		}, want: []Finding{
			{Rule: "podSecurity.appArmorProfile", Path: "spec.template.spec.securityContext.appArmorProfile.type",
				Message: `pod sets securityContext.appArmorProfile.type="Unconfined"; ` + std("baseline", latestV) +
					` allows only the RuntimeDefault and Localhost AppArmor profiles: set it to "RuntimeDefault" or remove it`},
			{Rule: "podSecurity.appArmorProfile", Path: "spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]",
				Message: `annotation "container.apparmor.security.beta.kubernetes.io/app" is "unconfined"; ` + std("baseline", latestV) +
					` allows only the runtime/default and localhost/* AppArmor profiles: remove the annotation or set it to "runtime/default"`},
		}},
		{name: "probe host", level: "baseline", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				HTTPGet: &corev1.HTTPGetAction{Host: "169.254.169.254"}}}
		}, want: []Finding{{Rule: "podSecurity.hostProbesAndHostLifecycle", Path: "spec.containers[0].readinessProbe.httpGet.host", Container: "app",
			Message: `container "app" sets readinessProbe.httpGet.host="169.254.169.254"; ` + std("baseline", latestV) +
				" forbids probes and lifecycle handlers aimed at another host: remove host, so that the handler targets the pod's own IP"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := pssCompliantPod()
			tc.mutate(pod)
			specPath, metaPath := "spec", "metadata"
			if tc.template {
				specPath, metaPath = "spec.template.spec", "spec.template.metadata"
			}
			got := collect(podSecurity, pssPolicy(t, tc.level, tc.version), NewTarget(&pod.ObjectMeta, &pod.Spec, specPath, metaPath))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPodSecurityUnknownCheckFallsBack: a check this code has no locator for (a newer upstream) is
// still reported, at the pod spec, with upstream's reason and detail.
func TestPodSecurityUnknownCheckFallsBack(t *testing.T) {
	future := psapolicy.Check{ID: "futureCheck", Level: psaapi.LevelBaseline, Versions: []psapolicy.VersionedCheck{{
		MinimumVersion: psaapi.MajorMinorVersion(1, 0),
		CheckPod: func(*metav1.ObjectMeta, *corev1.PodSpec) psapolicy.CheckResult {
			return psapolicy.CheckResult{ForbiddenReason: "future things", ForbiddenDetail: `container "app" does future things`}
		},
	}}}
	c, err := newPSSChecker(append(psapolicy.DefaultChecks(), future))
	if err != nil {
		t.Fatal(err)
	}
	pod := pssCompliantPod()
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.MajorMinorVersion(1, 30)}
	var out Findings
	c.check(&pssConfig{LevelVersion: lv}, NewTarget(&pod.ObjectMeta, &pod.Spec, "spec.template.spec", "spec.template.metadata"), &out)
	got := out.Kept()
	want := []Finding{{Rule: "podSecurity.futureCheck", Path: "spec.template.spec",
		Message: `pod fails the futureCheck check: future things (container "app" does future things); ` +
			"the restricted Pod Security Standard (v1.30) forbids this: change the fields the detail names"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

// TestPodSecurityUpstreamFixtures checks sealgate against upstream on upstream's own corpus: the pass
// and fail pods k8s.io/pod-security-admission/test writes for every check, level and version. The
// verdict must be upstream's, each failing check must be reported under its ID with the reason upstream
// gives, and every finding must carry a located field path, never the pod-spec fallback.
func TestPodSecurityUpstreamFixtures(t *testing.T) {
	dir := pssUpstreamTestdata(t)
	ref, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := defaultPSS()
	if err != nil {
		t.Fatal(err)
	}
	const specPath, metaPath = "spec.template.spec", "spec.template.metadata"
	var pods, failing int
	for _, level := range []psaapi.Level{psaapi.LevelBaseline, psaapi.LevelRestricted} {
		versions, err := filepath.Glob(filepath.Join(dir, string(level), "v1.*"))
		if err != nil || len(versions) == 0 {
			t.Fatalf("no fixtures for %s under %s: %v", level, dir, err)
		}
		newest := psaapi.MajorMinorVersion(1, 0)
		for _, vdir := range versions {
			v, err := psaapi.ParseVersion(filepath.Base(vdir))
			if err != nil {
				t.Fatal(err)
			}
			if newest.Older(v) {
				newest = v
			}
		}
		for _, vdir := range versions {
			v, _ := psaapi.ParseVersion(filepath.Base(vdir))
			lvs := []psaapi.LevelVersion{{Level: level, Version: v}}
			if v == newest {
				lvs = append(lvs, psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()})
			}
			for _, outcome := range []string{"pass", "fail"} {
				files, _ := filepath.Glob(filepath.Join(vdir, outcome, "*.yaml"))
				for _, file := range files {
					pod := pssReadPod(t, file)
					name := strings.TrimPrefix(file, dir+string(filepath.Separator))
					for _, lv := range lvs {
						pods++
						want := ref.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec)
						agg := psapolicy.AggregateCheckResults(want)
						if agg.Allowed != (outcome == "pass") {
							t.Fatalf("%s at %s: upstream says allowed=%v: fixture misread", name, lv, agg.Allowed)
						}
						if !agg.Allowed {
							failing++
						}
						target := NewTarget(&pod.ObjectMeta, &pod.Spec, specPath, metaPath)
						pssCompareUpstream(t, c, name, lv, target, want)

						got := collect(podSecurity, pssPolicy(t, string(lv.Level), lv.Version.String()), target)
						if (len(got) > 0) != !agg.Allowed {
							t.Errorf("%s at %s: %d findings, upstream allowed=%v (%s)", name, lv, len(got), agg.Allowed, agg.ForbiddenDetail())
						}
						var rules []string
						for _, f := range got {
							if f.Path == specPath {
								t.Errorf("%s at %s: %s not located: %s", name, lv, f.Rule, f.Message)
							} else if !strings.HasPrefix(f.Path, specPath+".") && !strings.HasPrefix(f.Path, metaPath+".") {
								t.Errorf("%s at %s: path %q is outside the pod", name, lv, f.Path)
							}
							if f.Message == "" || !strings.Contains(f.Message, "Pod Security Standard ("+lv.Version.String()) {
								t.Errorf("%s at %s: message %q does not name the version", name, lv, f.Message)
							}
							if len(rules) == 0 || rules[len(rules)-1] != f.Rule {
								rules = append(rules, f.Rule)
							}
						}
						if len(rules) != len(agg.ForbiddenReasons) {
							t.Errorf("%s at %s: findings for %v, upstream fails %d checks: %s", name, lv, rules, len(agg.ForbiddenReasons), agg.ForbiddenDetail())
						}
					}
				}
			}
		}
	}
	if pods < 1000 || failing < 500 {
		t.Fatalf("only %d pods (%d failing) read from %s", pods, failing, dir)
	}
	t.Logf("%d pod evaluations, %d failing, agree with upstream", pods, failing)
}

// pssCompareUpstream asserts that tagging changes nothing but the tag: the same results in the same
// order, each failing one tagged with the ID of a check that, run alone at that version, fails the
// same way.
func pssCompareUpstream(t *testing.T, c *pssChecker, name string, lv psaapi.LevelVersion, target *Target, want []psapolicy.CheckResult) {
	t.Helper()
	got := c.evaluate(lv, target)
	if len(got) != len(want) {
		t.Fatalf("%s at %s: %d results, upstream %d", name, lv, len(got), len(want))
	}
	for i := range got {
		r := got[i]
		if !r.Allowed {
			var id psapolicy.CheckID
			id, r.ForbiddenReason = pssUntag(r.ForbiddenReason)
			fn := c.checkAt(id, c.effective(lv.Version))
			if fn == nil {
				t.Errorf("%s at %s: result %d tagged %q, which is not in force", name, lv, i, id)
			} else if alone := fn(target.Meta, target.Spec); alone != want[i] {
				t.Errorf("%s at %s: result %d tagged %q, but that check alone gives %+v, upstream %+v", name, lv, i, id, alone, want[i])
			}
		}
		if r != want[i] {
			t.Errorf("%s at %s: result %d is %+v, upstream %+v", name, lv, i, r, want[i])
		}
	}
}

// pssUpstreamTestdata finds k8s.io/pod-security-admission/test/testdata in the module cache: the
// fixture generators are unexported, but the pods they generate ship with the module.
func pssUpstreamTestdata(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/pod-security-admission").Output()
	if err != nil {
		t.Fatalf("locating k8s.io/pod-security-admission: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "test", "testdata")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("upstream fixtures: %v", err)
	}
	return dir
}

func pssReadPod(t *testing.T, file string) *corev1.Pod {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{}
	if err := yaml.Unmarshal(b, pod); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	// The fixtures are written to be created through the API server, which defaults a volume with no
	// source to emptyDir before any admission webhook sees it.
	for i := range pod.Spec.Volumes {
		if pssVolumeSource(&pod.Spec.Volumes[i]) == "" {
			pod.Spec.Volumes[i].EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
	}
	return pod
}

// TestPodSecurityTagAllocatesNothing: on a compliant pod the rule costs what upstream's evaluator
// costs, allocation for allocation; the ID tag allocates only on failure.
func TestPodSecurityTagAllocatesNothing(t *testing.T) {
	pod := pssCompliantPod()
	target := NewTarget(&pod.ObjectMeta, &pod.Spec, "spec", "metadata")
	p := pssPolicy(t, "restricted", "latest")
	ref, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	upstream := testing.AllocsPerRun(100, func() { ref.EvaluatePod(config[pssConfig](p, &podSecurity).LevelVersion, &pod.ObjectMeta, &pod.Spec) })
	var out Findings
	ours := testing.AllocsPerRun(100, func() {
		out.Reset()
		if podSecurity.Check(p, target, &out); out.Len() != 0 {
			t.Fatal("compliant pod has findings")
		}
	})
	if ours > upstream {
		t.Errorf("the rule allocates %v times per compliant pod, upstream's evaluator %v", ours, upstream)
	}
}

func TestPodSecurityLocatorsOrdered(t *testing.T) {
	// Findings follow upstream's check order, so messages and golden files are stable.
	pod := pssCompliantPod()
	pod.Spec.HostPID = true
	pod.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true)
	pod.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
	got := collect(podSecurity, pssPolicy(t, "restricted", "latest"), NewTarget(&pod.ObjectMeta, &pod.Spec, "spec", "metadata"))
	var rules []string
	for _, f := range got {
		rules = append(rules, f.Rule)
	}
	want := []string{"podSecurity.hostNamespaces", "podSecurity.privileged", "podSecurity.allowPrivilegeEscalation"}
	if !slices.Equal(rules, want) {
		t.Errorf("rules %v, want %v", rules, want)
	}
}

func BenchmarkPodSecurityRestricted(b *testing.B) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{pssRestrictedContainer("app"), pssRestrictedContainer("sidecar"), pssRestrictedContainer("proxy")},
	}}
	target := NewTarget(&pod.ObjectMeta, &pod.Spec, "spec", "metadata")
	p := pssPolicy(b, "restricted", "latest")
	if collect(podSecurity, p, target) != nil {
		b.Fatal("benchmark pod is not compliant")
	}
	b.Run("sealgate", func(b *testing.B) {
		var out Findings
		b.ReportAllocs()
		for b.Loop() {
			out.Reset()
			podSecurity.Check(p, target, &out)
		}
	})
	// upstream is the evaluator alone, untagged: the floor the rule is measured against.
	b.Run("upstream", func(b *testing.B) {
		ref, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			ref.EvaluatePod(config[pssConfig](p, &podSecurity).LevelVersion, &pod.ObjectMeta, &pod.Spec)
		}
	})
}

// TestPSSVersionIsString: pssVersion writes versions as upstream's Version.String does.
func TestPSSVersionIsString(t *testing.T) {
	for _, s := range []string{"latest", "v1.0", "v1.22", "v1.37", "v1.101"} {
		v, err := psaapi.ParseVersion(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := pssVersion(v); got != v.String() {
			t.Errorf("pssVersion(%s) = %q, want %q", s, got, v.String())
		}
	}
}
