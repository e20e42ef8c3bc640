//go:build helm

package helm

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// webhookCase is what one scenario should render: the options of webhookconfig.Validating.
type webhookCase struct {
	opts webhookconfig.Options
}

func webhookCases(t *testing.T) map[string]webhookCase {
	service := webhookconfig.Options{Name: "sealgate", Namespace: releaseNS, Service: "sealgate", Port: 443}
	return map[string]webhookCase{
		"default":          {opts: service},
		"hardened":         {opts: service},
		"cert-manager":     {opts: service},
		"enforce-policies": {opts: service},
		"monitoring":       {opts: service},
		"existing-secret": {opts: webhookconfig.Options{Name: "sealgate", Namespace: releaseNS, Service: "sealgate", Port: 443,
			CABundle: caBundleOf(t, "existing-secret")}},
		"local": {opts: webhookconfig.Options{Name: "sealgate", Namespace: releaseNS, URL: "https://localhost:9443"}},
		"tuned": {
			opts: webhookconfig.Options{Name: "admission-gate", Namespace: releaseNS, Service: "admission-gate", Port: 443,
				FailurePolicy: admissionregistrationv1.Ignore, TimeoutSeconds: 5, ExcludeNamespaces: []string{"monitoring", "ci-runners"},
				NamespaceSelector: []metav1.LabelSelectorRequirement{
					{Key: "sealgate.dev/ignore", Operator: metav1.LabelSelectorOpDoesNotExist},
					{Key: "tenant", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}},
				}},
		},
	}
}

// caBundleOf reads certs.secret.caBundle from a scenario's values file.
func caBundleOf(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "ci", name+"-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Certs struct {
			Secret struct {
				CABundle string `json:"caBundle"`
			} `json:"secret"`
		} `json:"certs"`
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	ca, err := base64.StdEncoding.DecodeString(v.Certs.Secret.CABundle)
	if err != nil || len(ca) == 0 {
		t.Fatalf("%s: certs.secret.caBundle is not base64: %v", name, err)
	}
	return ca
}

// TestWebhookConfigMatchesGo: for every scenario, the chart's ValidatingWebhookConfiguration has
// exactly the webhooks webhookconfig.Validating returns for the same options, field by field (rules,
// namespace selector, client config, failure policy, timeouts, side effects, match policy, review
// versions). The chart and the Go definition can never drift.
func TestWebhookConfigMatchesGo(t *testing.T) {
	cases := webhookCases(t)
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			c, ok := cases[s.name]
			if !ok {
				t.Fatalf("no expected webhook options for scenario %s: add them to webhookCases", s.name)
			}
			want, err := webhookconfig.Validating(c.opts)
			if err != nil {
				t.Fatal(err)
			}

			var got admissionregistrationv1.ValidatingWebhookConfiguration
			parse(t, renderScenario(t, s)).one(t, "ValidatingWebhookConfiguration", &got)
			if got.Name != want.Name {
				t.Errorf("name = %q, want %q", got.Name, want.Name)
			}
			for k, v := range want.Labels {
				if got.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, got.Labels[k], v)
				}
			}
			if diff := cmp.Diff(want.Webhooks, got.Webhooks); diff != "" {
				t.Errorf("chart's webhooks differ from webhookconfig.Validating(%+v) (-go +chart):\n%s", c.opts, diff)
			}
		})
	}
}
