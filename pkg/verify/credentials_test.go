package verify

import (
	"encoding/base64"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
)

func TestParseDockerSecret(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("u2:p2"))
	for _, tc := range []struct {
		name string
		data map[string][]byte
		host string
		want authn.AuthConfig
	}{
		{"dockerconfigjson", map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"Registry.Example.com:5000":{"username":"u","password":"p"}}}`)},
			"registry.example.com:5000", authn.AuthConfig{Username: "u", Password: "p"}},
		{"auth field, Docker Hub alias", map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"https://index.docker.io/v1/":{"auth":"` + auth + `"}}}`)},
			name.DefaultRegistry, authn.AuthConfig{Username: "u2", Password: "p2"}},
		{"legacy dockercfg", map[string][]byte{corev1.DockerConfigKey: []byte(`{"ghcr.io":{"username":"u","password":"p"}}`)},
			"ghcr.io", authn.AuthConfig{Username: "u", Password: "p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDockerSecret(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if got[tc.host] != tc.want {
				t.Fatalf("got %+v", got)
			}
		})
	}
	if _, err := parseDockerSecret(map[string][]byte{"token": []byte("x")}); err == nil {
		t.Error("a Secret without a Docker config was accepted")
	}
}

func TestCredentialScopes(t *testing.T) {
	a := (&pullCredentials{namespace: "a", serviceAccount: "default"}).scope()
	b := (&pullCredentials{namespace: "b", serviceAccount: "default"}).scope()
	if a == b || a == "" {
		t.Fatalf("scopes %q and %q", a, b)
	}
	var none *pullCredentials
	if none.scope() != "" {
		t.Error("no pod credentials must be the shared scope")
	}
}

func TestPodCredentialsNamespace(t *testing.T) {
	v := New(Options{Secrets: &fakeSecrets{}})
	spec := &corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "a"}, {Name: "a"}, {Name: "b"}}}
	c := v.podCredentials(spec, "ns")
	if c.namespace != "ns" || c.serviceAccount != "default" || len(c.pullSecrets) != 2 {
		t.Fatalf("credentials: %+v", c)
	}
	if c := v.podCredentials(spec, ""); c != nil {
		t.Fatalf("unknown namespace: %+v, want the configured keychain only", c)
	}
	if c := New(Options{}).podCredentials(spec, "ns"); c != nil {
		t.Fatalf("no cluster: %+v", c)
	}
}

// TestRuleCredentialsScope: a rule's registryCredentials Secret is part of the credential scope,
// with or without the pod's own credentials.
func TestRuleCredentialsScope(t *testing.T) {
	rule := func(i int, ns, name string) *policy.Signature {
		r := &v1alpha1.SignatureRule{}
		if name != "" {
			r.RegistryCredentials = &v1alpha1.RegistryCredentials{SecretRef: v1alpha1.SecretRef{Namespace: ns, Name: name}}
		}
		return &policy.Signature{Index: i, Rule: r}
	}
	pod := &pullCredentials{namespace: "team-a", serviceAccount: "default"}
	if got := pod.forRules(rule(0, "", "")); got != pod {
		t.Error("a rule without registryCredentials changed the credentials")
	}
	a, b := pod.forRules(rule(0, "sealgate", "a")), pod.forRules(rule(0, "sealgate", "b"))
	if a.scope() == b.scope() || a.scope() == pod.scope() {
		t.Errorf("scopes not distinct: %q %q %q", a.scope(), b.scope(), pod.scope())
	}
	if len(pod.ruleSecrets) != 0 {
		t.Error("forRules changed its receiver")
	}
	var none *pullCredentials
	if got := none.forRules(rule(0, "sealgate", "a")); got == nil || got.namespace != "" || len(got.ruleSecrets) != 1 || got.scope() == none.scope() {
		t.Errorf("without the pod's credentials: %+v", got)
	}
	if got := pod.forRules(rule(0, "sealgate", "a"), rule(1, "sealgate", "a"), rule(2, "sealgate", "c")); len(got.ruleSecrets) != 2 {
		t.Errorf("rule Secrets not deduplicated: %+v", got.ruleSecrets)
	}
}
