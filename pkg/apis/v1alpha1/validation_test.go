package v1alpha1

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// testKey is a valid key; attestors of one rule that need keys of their own get newP256Key().
var testKey = newP256Key()

func policyWith(spec PolicySpec) *ClusterAdmissionPolicy {
	return &ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: spec}
}

func fieldsOf(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}

func manySignatureRules(n int) []SignatureRule {
	out := make([]SignatureRule, n)
	for i := range out {
		out[i] = SignatureRule{Images: []string{"registry.example.com/**"}, Attestors: []Attestor{keyAttestor("k")}}
	}
	return out
}

// keyAttestor is an attestor with a key of its own: one key under two names is invalid.
func keyAttestor(name string) Attestor { return Attestor{Name: name, PublicKey: newP256Key()} }

// indexPaths returns path[from] ... path[to-1].
func indexPaths(path string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s[%d]", path, i))
	}
	return out
}

func q(s string) resource.Quantity { return resource.MustParse(s) }

func TestValidateValid(t *testing.T) {
	for name, p := range map[string]*ClusterAdmissionPolicy{
		"empty spec": policyWith(PolicySpec{}),
		"everything": policyWith(PolicySpec{
			Mode: ModeAudit,
			Match: Match{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}},
				ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "app.kubernetes.io/name", Operator: metav1.LabelSelectorOpExists}}},
				ExcludeNamespaces: []string{"kube-system", "sealgate"},
				Kinds:             []string{"Pod", "apps/Deployment", "CronJob", "batch/Job"},
			},
			Images: &ImageRules{AllowedRegistries: []string{"registry.example.com/**", "ghcr.io/acme/*", "nginx", "ubuntu:24.04",
				"busybox@sha256:" + strings.Repeat("0", 64)},
				RequireDigest: true, DisallowLatestTag: true},
			Signatures: []SignatureRule{{
				Images:       []string{"registry.example.com/**"},
				Threshold:    2,
				Attestors:    []Attestor{keyAttestor("release"), {Name: "ci", Keyless: &Keyless{Issuer: "https://issuer", SubjectRegExp: "^https://github.com/acme/"}, TrustedRootRef: &TrustedRootRef{File: "/etc/sealgate/trusted_root.json"}}, {Name: "sec", SecretRef: &SecretKeyRef{Namespace: "sealgate", Name: "keys"}}},
				Attestations: []AttestationRule{{PredicateType: "https://slsa.dev/provenance/v1"}},
			}},
			PodSecurity: &PodSecurity{Level: "baseline", Version: "v1.30"},
			Containers: &ContainerRules{Privileged: Forbidden, RunAsRoot: AllowForbid, AllowPrivilegeEscalation: Forbidden,
				HostNamespaces: Forbidden, ReadOnlyRootFilesystem: AllowRequire,
				Capabilities: &CapabilityRules{RequireDropAll: true, AllowedAdd: []corev1.Capability{"NET_BIND_SERVICE"}}},
			Resources: &ResourceRules{
				RequireRequests:      []corev1.ResourceName{"cpu", "memory", "nvidia.com/gpu"},
				RequireLimits:        []corev1.ResourceName{"memory"},
				MaxLimits:            map[corev1.ResourceName]resource.Quantity{"cpu": q("4"), "memory": q("8Gi")},
				MaxLimitRequestRatio: map[corev1.ResourceName]resource.Quantity{"cpu": q("1"), "memory": q("1.5")},
			},
		}),
	} {
		t.Run(name, func(t *testing.T) {
			p.Default()
			if errs := p.Validate(); len(errs) != 0 {
				t.Errorf("Validate: %v", errs.ToAggregate())
			}
		})
	}
}

// TestValidateKindsMessage: an unknown kind is named, with the kinds sealgate checks.
func TestValidateKindsMessage(t *testing.T) {
	p := policyWith(PolicySpec{Match: Match{Kinds: []string{"Deployments", "Pod", "Pod"}}})
	p.Default()
	got := p.Validate().ToAggregate().Error()
	want := `[spec.match.kinds[0]: Unsupported value: "Deployments": supported values: "Pod", "Deployment", "ReplicaSet", ` +
		`"StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController", "PodTemplate" ` +
		`(a kind may be written with its API group, e.g. "apps/Deployment"), ` +
		`spec.match.kinds[2]: Duplicate value: "Pod": the same kind as kinds[1]]`
	if got != want {
		t.Errorf("errors:\n got %s\nwant %s", got, want)
	}
}

func TestValidateInvalid(t *testing.T) {
	cases := []struct {
		name   string
		policy *ClusterAdmissionPolicy
		want   []string
	}{
		{"no name", &ClusterAdmissionPolicy{}, []string{"metadata.name"}},
		{"bad name", &ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}}, []string{"metadata.name"}},
		{"namespaced", &ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}}, []string{"metadata.namespace"}},
		{"mode", policyWith(PolicySpec{Mode: "enforce"}), []string{"spec.mode"}},
		{"fallback", policyWith(PolicySpec{Fallback: "VAP"}), []string{"spec.fallback"}},
		{"fallback name too long", &ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 245)},
			Spec: PolicySpec{Mode: ModeEnforce, Fallback: FallbackVAP}}, []string{"spec.fallback"}},
		{"match", policyWith(PolicySpec{Match: Match{
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Within"}}},
			ObjectSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "v"}},
			ExcludeNamespaces: []string{"ok", "Not_OK", ""},
		}}), []string{"spec.match.namespaceSelector.matchExpressions[0].operator", "spec.match.objectSelector.matchLabels",
			"spec.match.excludeNamespaces[1]", "spec.match.excludeNamespaces[2]"}},
		{"kinds", policyWith(PolicySpec{Match: Match{Kinds: []string{"Deployment", "deployment", "apps/Deployment", "extensions/Deployment",
			"Service", "apps/v1/Deployment", "Pod", "v1/Pod"}}}),
			[]string{"spec.match.kinds[1]", "spec.match.kinds[2]", "spec.match.kinds[3]", "spec.match.kinds[4]",
				"spec.match.kinds[5]", "spec.match.kinds[7]"}},
		{"empty kinds", policyWith(PolicySpec{Match: Match{Kinds: []string{}}}), []string{"spec.match.kinds"}},
		{"too many kinds", policyWith(PolicySpec{Match: Match{Kinds: slices.Repeat([]string{"Pod"}, 33)}}),
			append([]string{"spec.match.kinds"}, indexPaths("spec.match.kinds", 1, 33)...)},
		{"allowed registries", policyWith(PolicySpec{Images: &ImageRules{AllowedRegistries: []string{
			"registry.example.com/**", "", "acme-*", "docker.io", "ubuntu:24.*", "ghcr.io/acme@sha256:abc", "*.example.com/x"}}}),
			[]string{"spec.images.allowedRegistries[1]", "spec.images.allowedRegistries[2]", "spec.images.allowedRegistries[3]",
				"spec.images.allowedRegistries[4]", "spec.images.allowedRegistries[5]", "spec.images.allowedRegistries[6]"}},
		{"empty allowed registries", policyWith(PolicySpec{Images: &ImageRules{AllowedRegistries: []string{}}}),
			[]string{"spec.images.allowedRegistries"}},
		{"too many signature rules", policyWith(PolicySpec{Signatures: manySignatureRules(65)}), []string{"spec.signatures"}},
		{"signature rule empty", policyWith(PolicySpec{Signatures: []SignatureRule{{}}}),
			[]string{"spec.signatures[0].images", "spec.signatures[0].attestors"}},
		{"signature threshold", policyWith(PolicySpec{Signatures: []SignatureRule{
			{Images: []string{"a/b"}, Threshold: 2, Attestors: []Attestor{keyAttestor("one")}},
			{Images: []string{"a/b"}, Threshold: -1, Attestors: []Attestor{keyAttestor("one")}},
		}}), []string{"spec.signatures[0].threshold", "spec.signatures[1].threshold"}},
		{"signature images", policyWith(PolicySpec{Signatures: []SignatureRule{
			{Images: []string{"a/b", "a/b:1", "a/*@sha256:" + strings.Repeat("0", 64), "a/b:1:2"}, Attestors: []Attestor{keyAttestor("one")}},
		}}), []string{"spec.signatures[0].images[1]", "spec.signatures[0].images[2]", "spec.signatures[0].images[3]"}},
		{"attestors", policyWith(PolicySpec{Signatures: []SignatureRule{{Images: []string{"a/b"}, Attestors: []Attestor{
			{Name: "", PublicKey: testKey},
			{Name: "none"},
			{Name: "two", PublicKey: newP256Key(), Keyless: &Keyless{Issuer: "i", Subject: "s"}},
			{Name: "badkey", PublicKey: "ssh-ed25519 AAAA"},
			{Name: "badkey", SecretRef: &SecretKeyRef{}},
			{Name: "keyless", Keyless: &Keyless{Issuer: "i", IssuerRegExp: "i", SubjectRegExp: "("}},
			{Name: "keyless2", Keyless: &Keyless{}},
			{Name: "tlog", PublicKey: newP256Key(), TransparencyLog: "Sometimes"},
			{Name: "tlogroot", PublicKey: newP256Key(), TransparencyLog: "Require"},
			{Name: "tworoots", PublicKey: newP256Key(), TransparencyLog: "Require",
				TrustedRootRef: &TrustedRootRef{File: "/r.json", ConfigMap: &SecretKeyRef{Name: "r"}}},
		}}}}), []string{
			"spec.signatures[0].attestors[0].name",
			"spec.signatures[0].attestors[1]",
			"spec.signatures[0].attestors[2]",
			"spec.signatures[0].attestors[2].trustedRootRef",
			"spec.signatures[0].attestors[3].publicKey",
			"spec.signatures[0].attestors[4].name",
			"spec.signatures[0].attestors[4].secretRef.name",
			"spec.signatures[0].attestors[4].secretRef.namespace",
			"spec.signatures[0].attestors[5].keyless",
			"spec.signatures[0].attestors[5].keyless.subjectRegExp",
			"spec.signatures[0].attestors[5].trustedRootRef",
			"spec.signatures[0].attestors[6].keyless",
			"spec.signatures[0].attestors[6].keyless",
			"spec.signatures[0].attestors[6].trustedRootRef",
			"spec.signatures[0].attestors[7].transparencyLog",
			"spec.signatures[0].attestors[8].trustedRootRef",
			"spec.signatures[0].attestors[9].trustedRootRef",
			"spec.signatures[0].attestors[9].trustedRootRef.configMap",
		}},
		{"attestations", policyWith(PolicySpec{Signatures: []SignatureRule{{Images: []string{"a/b"}, Attestors: []Attestor{keyAttestor("k")},
			Attestations: []AttestationRule{{PredicateType: "x"}, {}}}}}), []string{"spec.signatures[0].attestations[1].predicateType"}},
		{"registry credentials", policyWith(PolicySpec{Signatures: []SignatureRule{{Images: []string{"a/b"}, Attestors: []Attestor{keyAttestor("k")},
			RegistryCredentials: &RegistryCredentials{}}}}), []string{"spec.signatures[0].registryCredentials.secretRef.name",
			"spec.signatures[0].registryCredentials.secretRef.namespace"}},
		{"pod security level", policyWith(PolicySpec{PodSecurity: &PodSecurity{Level: "strict"}}), []string{"spec.podSecurity.level"}},
		{"pod security version", policyWith(PolicySpec{PodSecurity: &PodSecurity{Level: "restricted", Version: "1.37"}}), []string{"spec.podSecurity.version"}},
		{"pod security both", policyWith(PolicySpec{PodSecurity: &PodSecurity{Level: "Restricted", Version: "v2.0"}}),
			[]string{"spec.podSecurity.level", "spec.podSecurity.version"}},
		{"containers", policyWith(PolicySpec{Containers: &ContainerRules{
			Privileged: "Deny", RunAsRoot: "forbid", AllowPrivilegeEscalation: "Require", HostNamespaces: "Forbid",
			ReadOnlyRootFilesystem: "Forbid",
		}}), []string{"spec.containers.privileged", "spec.containers.runAsRoot", "spec.containers.allowPrivilegeEscalation",
			"spec.containers.readOnlyRootFilesystem"}},
		{"resources", policyWith(PolicySpec{Resources: &ResourceRules{
			RequireRequests:      []corev1.ResourceName{"cpu", "", "Not Valid"},
			RequireLimits:        []corev1.ResourceName{"example.com/a b", "memory"},
			MaxLimits:            map[corev1.ResourceName]resource.Quantity{"memory": q("-1Gi"), "cpu": q("0")},
			MaxLimitRequestRatio: map[corev1.ResourceName]resource.Quantity{"cpu": q("0.5"), "memory": q("0")},
		}}), []string{
			"spec.resources.requireRequests[1]", "spec.resources.requireRequests[2]", "spec.resources.requireLimits[0]",
			"spec.resources.maxLimits[cpu]", "spec.resources.maxLimits[memory]",
			"spec.resources.maxLimitRequestRatio[memory]", "spec.resources.maxLimitRequestRatio[cpu]",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.policy.Default()
			errs := c.policy.Validate()
			if diff := cmp.Diff(c.want, fieldsOf(errs)); diff != "" {
				t.Errorf("invalid fields (-want +got):\n%s\nerrors:\n%s", diff, errs.ToAggregate())
			}
			for _, e := range errs {
				if e.Detail == "" && e.Type != field.ErrorTypeDuplicate && e.Type != field.ErrorTypeNotSupported {
					t.Errorf("%s: no detail saying how to fix it", e.Field)
				}
			}
		})
	}
}

// A public key's value is never echoed in an error: it is long and may be a secret pasted by mistake.
func TestValidateDoesNotEchoKeys(t *testing.T) {
	p := policyWith(PolicySpec{Signatures: []SignatureRule{{Images: []string{"a/b"},
		Attestors: []Attestor{{Name: "k", PublicKey: "-----BEGIN PRIVATE KEY-----\nSECRET\n"}}}}})
	p.Default()
	errs := p.Validate()
	if len(errs) != 1 || strings.Contains(errs.ToAggregate().Error(), "SECRET") {
		t.Errorf("errors = %v", errs.ToAggregate())
	}
}

func TestDefault(t *testing.T) {
	keyB := newP256Key()
	p := policyWith(PolicySpec{
		PodSecurity: &PodSecurity{Level: "restricted"},
		Signatures: []SignatureRule{{
			Images: []string{"a/b"},
			Attestors: []Attestor{
				{Name: "key", PublicKey: testKey},
				{Name: "keyless", Keyless: &Keyless{Issuer: "i", Subject: "s"}, TrustedRootRef: &TrustedRootRef{File: "/root.json"}},
				{Name: "secret", SecretRef: &SecretKeyRef{Namespace: "n", Name: "s"}},
				{Name: "explicit", Keyless: &Keyless{Issuer: "i", Subject: "another"}, TransparencyLog: "Ignore", TrustedRootRef: &TrustedRootRef{File: "/root.json"}},
			},
		}, {Images: []string{"c/d"}, Threshold: 2, Attestors: []Attestor{{Name: "a", PublicKey: testKey}, {Name: "b", PublicKey: keyB, TransparencyLog: "Require", TrustedRootRef: &TrustedRootRef{File: "/root.json"}}}}},
	})
	p.Default()
	want := PolicySpec{
		Mode:        ModeEnforce,
		PodSecurity: &PodSecurity{Level: "restricted", Version: "latest"},
		Signatures: []SignatureRule{{
			Images:    []string{"a/b"},
			Threshold: 1,
			Attestors: []Attestor{
				{Name: "key", PublicKey: testKey, TransparencyLog: "Ignore"},
				{Name: "keyless", Keyless: &Keyless{Issuer: "i", Subject: "s"}, TransparencyLog: "Require", TrustedRootRef: &TrustedRootRef{File: "/root.json"}},
				{Name: "secret", SecretRef: &SecretKeyRef{Namespace: "n", Name: "s"}, TransparencyLog: "Ignore"},
				{Name: "explicit", Keyless: &Keyless{Issuer: "i", Subject: "another"}, TransparencyLog: "Ignore", TrustedRootRef: &TrustedRootRef{File: "/root.json"}},
			},
		}, {Images: []string{"c/d"}, Threshold: 2, Attestors: []Attestor{
			{Name: "a", PublicKey: testKey, TransparencyLog: "Ignore"}, {Name: "b", PublicKey: keyB, TransparencyLog: "Require", TrustedRootRef: &TrustedRootRef{File: "/root.json"}}}}},
	}
	if diff := cmp.Diff(want, p.Spec); diff != "" {
		t.Errorf("defaulted spec (-want +got):\n%s", diff)
	}
	if errs := p.Validate(); len(errs) != 0 {
		t.Errorf("defaulted policy is invalid: %v", errs.ToAggregate())
	}

	// Set values are kept; defaulting twice changes nothing.
	kept := policyWith(PolicySpec{Mode: ModeWarn, PodSecurity: &PodSecurity{Level: "baseline", Version: "v1.30"}})
	kept.Default()
	again := kept.DeepCopy()
	again.Default()
	if kept.Spec.Mode != ModeWarn || kept.Spec.PodSecurity.Version != "v1.30" || !cmp.Equal(kept, again) {
		t.Errorf("Default changed set values: %+v", kept.Spec)
	}
}
