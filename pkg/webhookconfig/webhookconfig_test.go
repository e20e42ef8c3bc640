package webhookconfig

import (
	"flag"
	"os"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/workload"
)

var update = flag.Bool("update", false, "rewrite config/webhook/manifests.yaml")

// TestManifestsUpToDate keeps config/webhook/manifests.yaml equal to what Validating renders for an
// in-cluster install, so the kustomize manifests can never drift from the code.
func TestManifestsUpToDate(t *testing.T) {
	vwc, err := Validating(Options{Namespace: "sealgate-system", Service: "sealgate"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := yaml.Marshal(vwc)
	if err != nil {
		t.Fatal(err)
	}
	got = append([]byte("# Generated from pkg/webhookconfig by `go test ./pkg/webhookconfig -update`; do not edit.\n"), got...)
	const path = "../../config/webhook/manifests.yaml"
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("config/webhook/manifests.yaml is out of date (run go test ./pkg/webhookconfig -update):\n%s", diff)
	}
}

func TestValidating(t *testing.T) {
	vwc, err := Validating(Options{Namespace: "guard", Service: "sg", ExcludeNamespaces: []string{"monitoring"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(vwc.Webhooks) != 2 {
		t.Fatalf("%d webhooks, want 2", len(vwc.Webhooks))
	}
	w := vwc.Webhooks[0]
	if w.Name != WorkloadWebhook || *w.ClientConfig.Service.Path != WorkloadPath || w.ClientConfig.Service.Namespace != "guard" {
		t.Errorf("workload webhook client config: %+v", w.ClientConfig)
	}
	if *w.FailurePolicy != admissionregistrationv1.Fail || *w.SideEffects != admissionregistrationv1.SideEffectClassNone ||
		*w.MatchPolicy != admissionregistrationv1.Equivalent || *w.TimeoutSeconds != 10 {
		t.Errorf("unsafe defaults: failurePolicy %v sideEffects %v matchPolicy %v timeout %v", *w.FailurePolicy, *w.SideEffects, *w.MatchPolicy, *w.TimeoutSeconds)
	}
	// Excluded by the name label the API server sets, never by a label users control.
	wantSel := []string{"kube-system", "guard", "monitoring"}
	sel := w.NamespaceSelector.MatchExpressions
	if len(sel) != 1 || sel[0].Key != "kubernetes.io/metadata.name" || sel[0].Operator != "NotIn" || !slices.Equal(sel[0].Values, wantSel) {
		t.Errorf("namespace selector = %+v, want kubernetes.io/metadata.name NotIn %v", sel, wantSel)
	}
	// Every pod-bearing kind the decoder knows is sent, with the pod subresources that change specs.
	var resources []string
	for _, r := range w.Rules {
		resources = append(resources, r.Resources...)
		if !slices.Equal(r.Operations, []admissionregistrationv1.OperationType{"CREATE", "UPDATE"}) {
			t.Errorf("rule %v operations %v", r.Resources, r.Operations)
		}
	}
	for _, k := range workload.Kinds {
		if !slices.Contains(resources, k.Resource) {
			t.Errorf("%s is not sent to the webhook", k.Resource)
		}
	}
	// And every built-in custom kind, at its own group and version, whether or not its CRD exists.
	for _, k := range workload.BuiltinCustomKinds {
		if !slices.ContainsFunc(w.Rules, func(r admissionregistrationv1.RuleWithOperations) bool {
			return slices.Equal(r.APIGroups, []string{k.GVK.Group}) && slices.Equal(r.APIVersions, []string{k.GVK.Version}) &&
				slices.Equal(r.Resources, []string{k.Resource}) && *r.Scope == admissionregistrationv1.NamespacedScope
		}) {
			t.Errorf("%s (%s) is not sent to the webhook", k.Resource, k.GVK)
		}
	}
	for _, sub := range []string{"pods/ephemeralcontainers", "pods/resize"} {
		if !slices.Contains(resources, sub) {
			t.Errorf("%s is not sent to the webhook", sub)
		}
	}
	for _, sub := range []string{"pods/status", "pods/exec", "pods/binding", "pods/eviction"} {
		if slices.Contains(resources, sub) {
			t.Errorf("%s must not be sent to the webhook", sub)
		}
	}
	p := vwc.Webhooks[1]
	if p.Name != PolicyWebhook || *p.ClientConfig.Service.Path != PolicyPath || p.Rules[0].Resources[0] != "clusteradmissionpolicies" {
		t.Errorf("policy webhook: %+v", p)
	}
}

func TestValidatingURLAndErrors(t *testing.T) {
	vwc, err := Validating(Options{Namespace: "ns", URL: "https://localhost:9443", CABundle: []byte("ca")})
	if err != nil {
		t.Fatal(err)
	}
	if got := *vwc.Webhooks[0].ClientConfig.URL; got != "https://localhost:9443/validate" {
		t.Errorf("url = %s", got)
	}
	if !Injected(vwc) {
		t.Error("CA bundle given but Injected is false")
	}
	for name, o := range map[string]Options{
		"no namespace":     {Service: "s"},
		"neither":          {Namespace: "ns"},
		"both url and svc": {Namespace: "ns", Service: "s", URL: "https://x"},
	} {
		if _, err := Validating(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
