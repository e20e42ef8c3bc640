package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

func TestVAPPrintsPolicyAndBinding(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Execute(context.Background(), []string{"vap", "--policy", "../../examples/policies/warn-latest.yaml"},
		IO{In: strings.NewReader(""), Out: &out, Err: &errOut})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	docs := strings.Split(out.String(), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("%d YAML documents, want the policy and its binding:\n%s", len(docs), out.String())
	}
	if !strings.Contains(docs[0], "#   images.disallowLatestTag: Conservative") {
		t.Errorf("no rule state comment in:\n%s", docs[0])
	}
	var vap admissionv1.ValidatingAdmissionPolicy
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &vap); err != nil {
		t.Fatal(err)
	}
	var binding admissionv1.ValidatingAdmissionPolicyBinding
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &binding); err != nil {
		t.Fatal(err)
	}
	if vap.Name != "sealgate-warn-latest" || len(vap.Spec.Validations) == 0 || binding.Spec.PolicyName != vap.Name ||
		len(binding.Spec.ValidationActions) != 1 || binding.Spec.ValidationActions[0] != admissionv1.Warn {
		t.Errorf("policy %q with %d validations, binding to %q with %v; want sealgate-warn-latest, Warn",
			vap.Name, len(vap.Spec.Validations), binding.Spec.PolicyName, binding.Spec.ValidationActions)
	}
	if strings.Contains(out.String(), "status:") {
		t.Errorf("output has a status")
	}
}

func TestVAPNeedsPolicy(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Execute(context.Background(), []string{"vap"}, IO{In: strings.NewReader(""), Out: &out, Err: &errOut}); code != ExitUsage {
		t.Errorf("exit %d without --policy, want %d", code, ExitUsage)
	}
}

// TestVAPBindingLeavesOutWhatTheWebhookIsNotSent: the binding excludes sealgate's namespace,
// kube-system and --exclude-namespace, as the webhook configuration installed with them does.
func TestVAPBindingLeavesOutWhatTheWebhookIsNotSent(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Execute(context.Background(), []string{"vap", "--policy", "../../examples/policies/warn-latest.yaml",
		"--namespace", "sg", "--exclude-namespace", "infra,monitoring"}, IO{In: strings.NewReader(""), Out: &out, Err: &errOut})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	docs := strings.Split(out.String(), "\n---\n")
	var binding admissionv1.ValidatingAdmissionPolicyBinding
	if err := yaml.UnmarshalStrict([]byte(docs[len(docs)-1]), &binding); err != nil {
		t.Fatal(err)
	}
	sel, err := metav1.LabelSelectorAsSelector(binding.Spec.MatchResources.NamespaceSelector)
	if err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[string]bool{"apps": true, "kube-system": false, "sg": false, "infra": false, "monitoring": false} {
		if got := sel.Matches(labels.Set{"kubernetes.io/metadata.name": ns}); got != want {
			t.Errorf("namespace %s: the binding matches %v, want %v (%s)", ns, got, want, sel)
		}
	}
}
