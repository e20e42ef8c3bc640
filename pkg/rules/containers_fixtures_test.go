package rules

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
)

// Fixtures shared by the container and resource rule tests.

// compile compiles a policy named "p" with the given spec.
func compile(t *testing.T, spec v1alpha1.PolicySpec) *policy.Policy {
	t.Helper()
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: spec})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func containerPolicy(t *testing.T, c v1alpha1.ContainerRules) *policy.Policy {
	t.Helper()
	return compile(t, v1alpha1.PolicySpec{Containers: &c})
}

func resourcePolicy(t *testing.T, r v1alpha1.ResourceRules) *policy.Policy {
	t.Helper()
	return compile(t, v1alpha1.PolicySpec{Resources: &r})
}

// podTarget is a Pod: the spec at "spec".
func podTarget(spec corev1.PodSpec) *Target {
	return NewTarget(&metav1.ObjectMeta{Name: "pod"}, &spec, "spec", "metadata")
}

// templateTarget is a Deployment's pod template: the spec at "spec.template.spec".
func templateTarget(spec corev1.PodSpec) *Target {
	tmpl := &corev1.PodTemplateSpec{Spec: spec}
	return NewTarget(&tmpl.ObjectMeta, &tmpl.Spec, "spec.template.spec", "spec.template.metadata")
}

type containerOpt func(*corev1.Container)

func ctr(name string, opts ...containerOpt) corev1.Container {
	c := corev1.Container{Name: name, Image: "registry.example.com/app:1.0"}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// secCtx edits the container's securityContext, creating it.
func secCtx(f func(*corev1.SecurityContext)) containerOpt {
	return func(c *corev1.Container) {
		if c.SecurityContext == nil {
			c.SecurityContext = &corev1.SecurityContext{}
		}
		f(c.SecurityContext)
	}
}

// requests and limits take name/quantity pairs: requests("cpu", "1", "memory", "1Gi").
func requests(kv ...string) containerOpt {
	return func(c *corev1.Container) { c.Resources.Requests = resourceList(kv) }
}

func limits(kv ...string) containerOpt {
	return func(c *corev1.Container) { c.Resources.Limits = resourceList(kv) }
}

func resourceList(kv []string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func ephemeral(c corev1.Container) corev1.EphemeralContainer {
	return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon(c)}
}

var windows = &corev1.PodOS{Name: corev1.Windows}

// collect runs one rule and returns every finding it reports (no limit), nil if none.
func collect(r Rule, p *policy.Policy, t *Target) []Finding {
	var out Findings
	r.Check(p, t, &out)
	return out.Kept()
}

type ruleCase struct {
	name   string
	policy *policy.Policy
	target *Target
	want   []Finding
}

// runRuleCases runs rule.Check on every case, and checks that it changed neither the pod nor the
// policy (quantities convert and cache in place if handled carelessly).
func runRuleCases(t *testing.T, rule Rule, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.target.Spec.DeepCopy()
			src := tc.policy.Source.DeepCopy()
			// The resource bounds are compiled quantities: copy them to see that the rule left them alone.
			var bounds [][]bound
			for _, r := range []*Rule{&maxLimits, &maxRequests, &maxLimitRequestRatio} {
				var cp []bound
				if c := config[[]bound](tc.policy, r); c != nil {
					for _, b := range *c {
						cp = append(cp, bound{Name: b.Name, Value: b.Value.DeepCopy()})
					}
				}
				bounds = append(bounds, cp)
			}

			got := collect(rule, tc.policy, tc.target)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s findings (-want +got):\n%s", rule.ID, diff)
			}

			if !reflect.DeepEqual(spec, tc.target.Spec) {
				t.Errorf("%s changed the pod spec", rule.ID)
			}
			for i, r := range []*Rule{&maxLimits, &maxRequests, &maxLimitRequestRatio} {
				if c := config[[]bound](tc.policy, r); c != nil && !reflect.DeepEqual(bounds[i], *c) {
					t.Errorf("%s changed the policy's %s", rule.ID, r.ID)
				}
			}
			if !reflect.DeepEqual(src, tc.policy.Source) {
				t.Errorf("%s changed the policy", rule.ID)
			}
		})
	}
}

// TestPassingChecksDoNotAllocate: the container, resource and deny-list rules allocate only for a violation,
// since every admission runs every rule.
func TestPassingChecksDoNotAllocate(t *testing.T) {
	p := compile(t, v1alpha1.PolicySpec{
		Images: &v1alpha1.ImageRules{DeniedRegistries: []string{"registry.example.com/legacy/**", "registry.example.com/app:0.9",
			"registry.example.com/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
		Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden, RunAsRoot: v1alpha1.Forbidden,
			AllowPrivilegeEscalation: v1alpha1.Forbidden, HostNamespaces: v1alpha1.Forbidden,
			ReadOnlyRootFilesystem: v1alpha1.Required,
			Capabilities: &v1alpha1.CapabilityRules{RequireDropAll: true, AllowedAdd: []corev1.Capability{"NET_BIND_SERVICE"},
				RequiredDrop: []corev1.Capability{"NET_RAW"}},
			RunAsUser:                &v1alpha1.IDRanges{Ranges: []v1alpha1.IDRange{{Min: 1, Max: 99}, {Min: 1000, Max: 1999}}},
			RunAsGroup:               &v1alpha1.IDRanges{Ranges: []v1alpha1.IDRange{{Min: 3000, Max: 3000}}},
			FSGroup:                  &v1alpha1.IDRanges{Ranges: []v1alpha1.IDRange{{Min: 2000, Max: 3999}}},
			SupplementalGroups:       &v1alpha1.IDRanges{Ranges: []v1alpha1.IDRange{{Min: 2000, Max: 2999}, {Min: 4000, Max: 4000}}},
			AllowedHostPorts:         []v1alpha1.PortRange{{Min: 8000, Max: 9000}},
			AllowedSysctls:           []string{"net.ipv4.ip_local_port_range", "kernel.shm*"},
			AllowedHostPaths:         []v1alpha1.AllowedHostPath{{PathPrefix: "/var/log", ReadOnly: true}},
			AllowedLocalhostProfiles: []string{"profiles/*"}, AutomountServiceAccountToken: v1alpha1.Forbidden},
		Resources: &v1alpha1.ResourceRules{
			RequireRequests:      []corev1.ResourceName{"cpu", "memory"},
			RequireLimits:        []corev1.ResourceName{"memory"},
			MaxLimits:            map[corev1.ResourceName]resource.Quantity{"cpu": resource.MustParse("4"), "memory": resource.MustParse("8Gi")},
			MaxRequests:          map[corev1.ResourceName]resource.Quantity{"cpu": resource.MustParse("1"), "memory": resource.MustParse("1Gi")},
			MaxLimitRequestRatio: map[corev1.ResourceName]resource.Quantity{"cpu": resource.MustParse("4"), "memory": resource.MustParse("1.5")},
		},
	})
	hardened := secCtx(func(sc *corev1.SecurityContext) {
		f, tr := false, true
		sc.Privileged, sc.AllowPrivilegeEscalation, sc.ReadOnlyRootFilesystem, sc.RunAsNonRoot = &f, &f, &tr, &tr
		sc.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"CAP_NET_BIND_SERVICE"}}
		uid := int64(1500)
		sc.RunAsUser = &uid
	})
	res := []containerOpt{requests("cpu", "500m", "memory", "1Gi"), limits("cpu", "2", "memory", "1536Mi")}
	// The pod uses what the allowlist knobs allow: a host port, sysctls (one spelled with '/'), a
	// read-only hostPath mount, Localhost seccomp profiles.
	port := func(c *corev1.Container) { c.Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}} }
	logs := func(c *corev1.Container) {
		c.VolumeMounts = []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}, {Name: "logs", MountPath: "/logs", ReadOnly: true}}
	}
	profile := "profiles/app.json"
	seccomp := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: &profile}
	localhost := secCtx(func(sc *corev1.SecurityContext) { sc.SeccompProfile = seccomp })
	no := false
	gid := int64(3000)
	tg := templateTarget(corev1.PodSpec{
		InitContainers: []corev1.Container{ctr("init", append(res, hardened, logs)...)},
		Containers:     []corev1.Container{ctr("app", append(res, hardened, port, logs, localhost)...), ctr("side", append(res, hardened)...)},
		SecurityContext: &corev1.PodSecurityContext{SeccompProfile: seccomp, RunAsGroup: &gid, FSGroup: &gid,
			SupplementalGroups: []int64{2500, 4000}, Sysctls: []corev1.Sysctl{
				{Name: "net/ipv4/ip_local_port_range", Value: "1024 65535"}, {Name: "kernel.shm_rmid_forced", Value: "1"}}},
		Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "logs", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log/pods/"}}}},
		AutomountServiceAccountToken: &no,
	})
	tg.Images() // parsed once per target, before any rule runs
	for _, r := range []Rule{privileged, runAsRoot, allowPrivilegeEscalation, hostNamespaces, capabilities,
		readOnlyRootFilesystem, runAsUser, runAsGroup, fsGroup, supplementalGroups,
		requireRequests, requireLimits, maxLimits, maxRequests, maxLimitRequestRatio,
		hostPorts, sysctls, hostPaths, seccompProfiles, automountServiceAccountToken, deniedRegistries} {
		if got := collect(r, p, tg); got != nil {
			t.Fatalf("%s: unexpected findings %v", r.ID, got)
		}
		var out Findings
		if n := testing.AllocsPerRun(100, func() { out.Reset(); r.Check(p, tg, &out) }); n != 0 {
			t.Errorf("%s allocates %v times on a passing pod", r.ID, n)
		}
	}
}
