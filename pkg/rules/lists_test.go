package rules

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

func TestFindingsKeepsLimitPerRule(t *testing.T) {
	f := &Findings{Limit: 2}
	for i := range 5 {
		f.Add(Finding{Path: "a" + strconv.Itoa(i)})
		f.Add(Finding{Rule: "sub", Path: "b" + strconv.Itoa(i)})
	}
	f.Add(Finding{Rule: "once", Path: "c"})
	var kept []string
	for _, x := range f.Kept() {
		kept = append(kept, x.Rule+":"+x.Path)
	}
	if diff := cmp.Diff([]string{":a0", "sub:b0", ":a1", "sub:b1", "once:c"}, kept); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	omitted := map[string]int{}
	f.Omitted(func(rule string, n int) { omitted[rule] = n })
	if diff := cmp.Diff(map[string]int{"": 3, "sub": 3}, omitted); diff != "" {
		t.Errorf("omitted (-want +got):\n%s", diff)
	}
	if f.Len() != 11 {
		t.Errorf("Len() = %d, want 11", f.Len())
	}
	f.Reset()
	if f.Len() != 0 || len(f.Kept()) != 0 || f.Limit != 2 {
		t.Errorf("after Reset: Len %d, kept %d, Limit %d", f.Len(), len(f.Kept()), f.Limit)
	}
}

func TestListHelpers(t *testing.T) {
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name, got, want string
	}{
		{"short value", quote("NET_RAW"), `"NET_RAW"`},
		{"long value is cut", quote(long), `"` + strings.Repeat("x", MaxValueBytes-len("…")) + `…"`},
		{"cut between runes", Truncate("aééb", 5), "a…"},
		{"exact length is kept", Truncate("abcd", 4), "abcd"},
		{"one entry", quoteEntries([]string{"A"}), `"A"`},
		{"three entries", quoteEntries([]string{"A", "B", "C"}), `"A", "B", "C"`},
		{"more entries", quoteEntries([]string{"A", "B", "C", "D", "E"}), `"A", "B", "C", … (2 more)`},
		{"the policy's list in full", quoteList([]string{"A", "B", "C", "D", long}), `"A", "B", "C", "D", ` + quote(long)},
		{"count one", count(1, "capability", "capabilities"), "1 capability"},
		{"count many", count(600000, "capability", "capabilities"), "600000 capabilities"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

// TestListsCollapse: a rule that judges the entries of one list field reports one finding at the
// list, with the count and the first MaxListedValues entries, however long the list.
func TestListsCollapse(t *testing.T) {
	const n = 10_000
	names := func(prefix string) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = prefix + strconv.Itoa(i)
		}
		return s
	}
	caps := func(ss []string) []corev1.Capability {
		c := make([]corev1.Capability, len(ss))
		for i, s := range ss {
			c[i] = corev1.Capability(s)
		}
		return c
	}
	const latest = "latest, v1.37"
	std := func(level, v string) string { return "the " + level + " Pod Security Standard (" + v + ")" }
	more := ", … (" + strconv.Itoa(n-3) + " more)"
	type tc struct {
		name           string
		level, version string // a Pod Security level; "" for the capabilities rule
		mutate         func(*corev1.Pod)
		want           Finding
	}
	cases := []tc{{
		name: "capabilities rule", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.Capabilities.Add = caps(names("X"))
		}, want: Finding{Path: "spec.containers[0].securityContext.capabilities.add", Container: "app",
			Message: `container "app" adds 10000 capabilities that are not allowed: "X0", "X1", "X2"` + more +
				`; only "NET_BIND_SERVICE" may be added; remove them`},
	}, {
		name: "baseline capabilities", level: "baseline", version: "latest", mutate: func(p *corev1.Pod) {
			// Allowed entries between forbidden ones are not counted.
			p.Spec.Containers[0].SecurityContext.Capabilities.Add = append([]corev1.Capability{"CHOWN"}, caps(names("X"))...)
		}, want: Finding{Rule: "podSecurity.capabilities_baseline", Path: "spec.containers[0].securityContext.capabilities.add", Container: "app",
			Message: `container "app" adds 10000 capabilities that are not allowed: "X0", "X1", "X2"` + more + "; " + std("baseline", latest) +
				" forbids adding capabilities beyond the container runtime's defaults: remove them from securityContext.capabilities.add"},
	}, {
		name: "restricted drop list", level: "restricted", version: "latest", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.Capabilities.Drop = caps(names("D"))
		}, want: Finding{Rule: "podSecurity.capabilities_restricted", Path: "spec.containers[0].securityContext.capabilities.drop", Container: "app",
			Message: `container "app" drops "D0", "D1", "D2"` + more + ` but not "ALL"; ` + std("restricted", latest) +
				` requires every container to drop all capabilities: set securityContext.capabilities.drop=["ALL"]`},
	}, {
		name: "sysctls", level: "baseline", version: "latest", mutate: func(p *corev1.Pod) {
			for _, s := range names("kernel.x") {
				p.Spec.SecurityContext.Sysctls = append(p.Spec.SecurityContext.Sysctls, corev1.Sysctl{Name: s, Value: "1"})
			}
		}, want: Finding{Rule: "podSecurity.sysctls", Path: "spec.securityContext.sysctls",
			Message: `pod sets 10000 sysctls that are not allowed: "kernel.x0", "kernel.x1", "kernel.x2"` + more + "; " + std("baseline", latest) +
				" allows only the safe, namespaced sysctls at this version: remove them"},
	}, {
		name: "host ports", level: "baseline", version: "latest", mutate: func(p *corev1.Pod) {
			for i := range n {
				p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 80, HostPort: int32(1000 + i)})
			}
		}, want: Finding{Rule: "podSecurity.hostPorts", Path: "spec.containers[0].ports", Container: "app",
			Message: `container "app" sets 10000 host ports: ports[0].hostPort=1000, ports[1].hostPort=1001, ports[2].hostPort=1002` + more + "; " +
				std("baseline", latest) + " forbids host ports: remove hostPort and reach the container through a Service"},
	}, {
		name: "hostPath volumes", level: "baseline", version: "latest", mutate: func(p *corev1.Pod) {
			for _, s := range names("v") {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: s,
					VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/" + s}}})
			}
		}, want: Finding{Rule: "podSecurity.hostPathVolumes", Path: "spec.volumes",
			Message: `10000 volumes mount host paths: "v0" ("/v0"), "v1" ("/v1"), "v2" ("/v2")` + more + "; " + std("baseline", latest) +
				" forbids hostPath volumes: use a persistentVolumeClaim, emptyDir, configMap or secret volume instead"},
	}, {
		name: "AppArmor annotations", level: "baseline", version: "latest", mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{}
			for _, s := range names("") {
				p.Annotations["container.apparmor.security.beta.kubernetes.io/c"+s] = "unconfined"
			}
		}, want: Finding{Rule: "podSecurity.appArmorProfile", Path: "metadata.annotations",
			// In key order: c0, c1, c10.
			Message: `10000 annotations set profiles that are not allowed: "container.apparmor.security.beta.kubernetes.io/c0", ` +
				`"container.apparmor.security.beta.kubernetes.io/c1", "container.apparmor.security.beta.kubernetes.io/c10"` + more + "; " +
				std("baseline", latest) + ` allows only the runtime/default and localhost/* AppArmor profiles: remove the annotation or set it to "runtime/default"`},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := pssCompliantPod()
			pod.Spec.InitContainers = nil
			pod.Spec.Containers = pod.Spec.Containers[:1]
			tc.mutate(pod)
			target := NewTarget(&pod.ObjectMeta, &pod.Spec, "spec", "metadata")
			var got []Finding
			if tc.level == "" {
				p := containerPolicy(t, v1alpha1.ContainerRules{Capabilities: &v1alpha1.CapabilityRules{AllowedAdd: []corev1.Capability{"NET_BIND_SERVICE"}}})
				got = collect(capabilities, p, target)
			} else {
				got = collect(podSecurity, pssPolicy(t, tc.level, tc.version), target)
			}
			if diff := cmp.Diff([]Finding{tc.want}, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHugeValuesAreQuotedCut: a value of the pod is quoted in a message only up to MaxValueBytes,
// with a mark, whether it is a container name, a capability or an annotation.
func TestHugeValuesAreQuotedCut(t *testing.T) {
	huge := strings.Repeat("V", 1<<20)
	cut := `"` + strings.Repeat("V", MaxValueBytes-len("…")) + `…"`
	pod := pssCompliantPod()
	pod.Spec.Containers[0].Name = huge
	pod.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{corev1.Capability(huge)}
	pod.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/" + huge: huge}
	target := NewTarget(&pod.ObjectMeta, &pod.Spec, "spec", "metadata")
	got := collect(podSecurity, pssPolicy(t, "baseline", "latest"), target)
	got = append(got, collect(capabilities, containerPolicy(t, v1alpha1.ContainerRules{Capabilities: &v1alpha1.CapabilityRules{}}), target)...)
	if len(got) != 3 {
		t.Fatalf("%d findings, want capabilities_baseline, appArmorProfile and capabilities: %.500v", len(got), got)
	}
	for _, f := range got {
		if len(f.Message) > 1024 || len(f.Path) > 512 {
			t.Errorf("%s: message of %d bytes, path of %d", f.Rule, len(f.Message), len(f.Path))
		}
		if !strings.Contains(f.Message, cut) {
			t.Errorf("%s: message does not quote the value cut: %.300s", f.Rule, f.Message)
		}
	}
}

// TestAnnotationProbesAreLinear: each annotation is probed with at most the one container it
// names, so that a pod with many annotations and many containers costs their sum, not their product.
func TestAnnotationProbesAreLinear(t *testing.T) {
	const n = 300
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}}}
	for i := range n {
		name := "c" + strconv.Itoa(i)
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: name})
		pod.Annotations["container.seccomp.security.alpha.kubernetes.io/"+name] = "unconfined"
		pod.Annotations["example.com/note-"+name] = "x"
	}
	seen := 0
	// The upstream check in force before v1.19 reads a container's annotation.
	check := pssCheckAt(t, "seccompProfile_baseline", psaapi.MajorMinorVersion(1, 18))
	x := &pssLocate{id: "seccompProfile_baseline", t: NewTarget(&pod.ObjectMeta, &pod.Spec, "spec", "metadata"),
		out: &Findings{}, rule: "podSecurity.seccompProfile_baseline", standard: "the baseline Pod Security Standard (v1.18)",
		probe: func(meta *metav1.ObjectMeta, spec *corev1.PodSpec) psapolicy.CheckResult {
			seen += len(spec.Containers)
			return check(meta, spec)
		}}
	x.forbiddenAnnotations("fix")
	if seen > n {
		t.Errorf("probes saw %d containers for %d annotations naming a container", seen, n)
	}
	got := x.out.Kept()
	if len(got) != 1 || !strings.HasPrefix(got[0].Message, "300 annotations set profiles that are not allowed: ") {
		t.Errorf("findings = %.500v, want one for the 300 seccomp annotations", got)
	}
}

// pssCheckAt is upstream's check as in force at v.
func pssCheckAt(t *testing.T, id psapolicy.CheckID, v psaapi.Version) psapolicy.CheckPodFn {
	t.Helper()
	c, err := defaultPSS()
	if err != nil {
		t.Fatal(err)
	}
	fn := c.checkAt(id, v)
	if fn == nil {
		t.Fatalf("no %s check at %s", id, v)
	}
	return fn
}
