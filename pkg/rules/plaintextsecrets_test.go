package rules

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
)

// TestPlaintextSecretsValidation: every bad field is reported at once, with its path; the fixtures
// cover what the rule finds.
func TestPlaintextSecretsValidation(t *testing.T) {
	spec := v1alpha1.PolicySpec{Containers: &v1alpha1.ContainerRules{PlaintextSecrets: &v1alpha1.PlaintextSecretRules{
		Mode:       v1alpha1.Forbidden,
		AllowedEnv: []string{"OK", "", strings.Repeat("A", 257)},
		Patterns: []v1alpha1.SecretPattern{
			{Name: "fine", Regex: `fine_[0-9]{8}`},
			{Name: " ", Regex: `x+`},
			{Name: "fine", Regex: `(a)\1`},
			{Name: "empty", Regex: `(tok)?`},
			{Name: strings.Repeat("n", 65), Regex: strings.Repeat("[a-z]{1000}", 5)},
		},
	}}}
	_, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: spec})
	if err == nil {
		t.Fatal("policy compiled")
	}
	const p = "spec.containers.plaintextSecrets."
	for _, want := range []string{
		p + "allowedEnv[1]: Required value",
		p + "allowedEnv[2]: Too long",
		p + "patterns[1].name: Required value",
		p + `patterns[2].name: Duplicate value: "fine"`,
		p + "patterns[2].regex: Invalid value: \"(a)\\\\1\": regex is not valid RE2",
		p + "patterns[3].regex: Invalid value: \"(tok)?\": regex matches the empty string",
		p + "patterns[4].name: Too long",
		p + "patterns[4].regex: Invalid value: \"[a-z]{1000}[a-z]{1000}",
		"more than 4096",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "patterns[0]") || strings.Contains(err.Error(), "allowedEnv[0]") {
		t.Errorf("a valid entry is reported:\n%v", err)
	}
}

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"PUBLIC_*", "PUBLIC_KEY", true},
		{"PUBLIC_*", "PUBLIC_", true},
		{"PUBLIC_*", "public_key", false},
		{"PUBLIC_*", "NOT_PUBLIC_KEY", false},
		{"*_PUBLIC", "MAPS_PUBLIC", true},
		{"*_PUBLIC", "MAPS_PUBLIC_X", false},
		{"A*B*C", "AxxBxxC", true},
		{"A*B*C", "AxxCxxB", false},
		{"A*B*C", "ABBC", true},
		{"*", "", true},
		{"**", "X", true},
		{"A*", "", false},
	} {
		if got := globMatch(c.pattern, c.name); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

// TestPlaintextSecretsOf: what the image-config rule gets to search an image's env finds what this
// rule finds, honours allowedEnv and the policy's patterns, and is nil when the rule is off.
func TestPlaintextSecretsOf(t *testing.T) {
	ps := &v1alpha1.PlaintextSecretRules{Mode: v1alpha1.Forbidden, AllowedEnv: []string{"PUBLIC_*"},
		Patterns: []v1alpha1.SecretPattern{{Name: "Acme deploy key", Regex: `acme_dk_[0-9a-f]{8}`}}}
	spec := &v1alpha1.PolicySpec{Containers: &v1alpha1.ContainerRules{PlaintextSecrets: ps}}
	c := plaintextSecretsOf(spec)
	if c == nil {
		t.Fatal("plaintextSecretsOf = nil with mode Forbid")
	}
	const token = "ghp_8Xv4cl14lLTAjGP4Szgz90hpgBUOtUsIP25g"
	if m, entry, ok := c.findEnv("GITHUB_TOKEN", token); !ok || m.Kind != "GitHub token" || entry[m.Start:m.End] != token {
		t.Errorf("findEnv(GITHUB_TOKEN) = %+v, %q, %v", m, entry, ok)
	}
	if m, _, ok := c.findEnv("DEPLOY", "acme_dk_0123abcd"); !ok || m.Kind != "Acme deploy key" {
		t.Errorf("findEnv(DEPLOY) = %+v, %v; want the policy's pattern", m, ok)
	}
	if _, _, ok := c.findEnv("PUBLIC_TOKEN", token); ok {
		t.Error("findEnv ignores allowedEnv")
	}
	ps.Mode = v1alpha1.AllowForbid
	if plaintextSecretsOf(spec) != nil {
		t.Error("plaintextSecretsOf != nil with mode Allow")
	}
	ps.Mode, ps.Patterns[0].Regex = v1alpha1.Forbidden, "(x)?"
	if plaintextSecretsOf(spec) != nil {
		t.Error("plaintextSecretsOf != nil with an invalid pattern")
	}
}
