package rules

import (
	"testing"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

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
	if m, ok := c.findEnv("GITHUB_TOKEN", token); !ok || m.Kind != "GitHub token" || ("GITHUB_TOKEN=" + token)[m.Start:m.End] != token {
		t.Errorf("findEnv(GITHUB_TOKEN) = %+v, %v", m, ok)
	}
	if m, ok := c.findEnv("DEPLOY", "acme_dk_0123abcd"); !ok || m.Kind != "Acme deploy key" {
		t.Errorf("findEnv(DEPLOY) = %+v, %v; want the policy's pattern", m, ok)
	}
	if _, ok := c.findEnv("PUBLIC_TOKEN", token); ok {
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
