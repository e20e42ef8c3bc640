package webhookconfig_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/pkg/workload"
)

func compiled(t *testing.T, name string, m v1alpha1.Match) *policy.Policy {
	t.Helper()
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.PolicySpec{Match: m, Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func names(cs []admissionregistrationv1.MatchCondition) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// TestMatchConditionsBySet: which conditions each policy set gets.
func TestMatchConditionsBySet(t *testing.T) {
	all := compiled(t, "all", v1alpha1.Match{})
	narrow := compiled(t, "narrow", v1alpha1.Match{ExcludeNamespaces: []string{"dev"}, Kinds: []string{"Pod"}})
	selected := compiled(t, "selected", v1alpha1.Match{ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "web"}}})
	for _, tc := range []struct {
		name     string
		policies []*policy.Policy
		want     []string
	}{
		{"none: never called", nil, []string{webhookconfig.NoPolicyCondition}},
		{"one that matches everything: unchanged updates only", []*policy.Policy{all}, []string{webhookconfig.PodChangedCondition}},
		{"narrowed ones", []*policy.Policy{narrow, selected}, []string{webhookconfig.PolicyMatchCondition, webhookconfig.PodChangedCondition}},
		{"a narrowed one beside one that is not", []*policy.Policy{narrow, all}, []string{webhookconfig.PodChangedCondition}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := webhookconfig.MatchConditions(tc.policies, workload.BuiltinCustomKinds)
			if diff := cmp.Diff(tc.want, names(got)); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			if len(tc.policies) == 0 && got[0].Expression != "false" {
				t.Errorf("with no policy the condition is %q, want false", got[0].Expression)
			}
			newMatcher(t, got) // compiles in the API server's environment
		})
	}
	// The writer compares with what the configuration holds: the order of the policies is no change.
	a := webhookconfig.MatchConditions([]*policy.Policy{narrow, selected}, workload.BuiltinCustomKinds)
	b := webhookconfig.MatchConditions([]*policy.Policy{selected, narrow}, workload.BuiltinCustomKinds)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("the conditions depend on the order of the policies:\n%s", diff)
	}
}

// TestMatchConditionsLeaveOutUnnamablePaths: a custom kind whose pod spec path CEL cannot name (a
// field that is a CEL reserved word) is always sent on UPDATE, never compared.
func TestMatchConditionsLeaveOutUnnamablePaths(t *testing.T) {
	odd := workload.CustomKind{GVK: schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Odd"},
		SpecPath: "spec.namespace.template.spec", MetaPath: "spec.namespace.template.metadata"}
	conds := webhookconfig.MatchConditions([]*policy.Policy{compiled(t, "all", v1alpha1.Match{})}, workload.NewCustomKinds(odd))
	if len(conds) != 1 || strings.Contains(conds[0].Expression, "example.com") || strings.Contains(conds[0].Expression, "namespace") {
		t.Fatalf("conditions %v name the kind whose path CEL cannot read", conds)
	}
	obj := []byte(`{"apiVersion":"example.com/v1","kind":"Odd","metadata":{"name":"x","namespace":"a"},"spec":{"namespace":{"template":{"spec":{"containers":[]}}}}}`)
	called, _ := match(t, newMatcher(t, conds), apiRequest{name: "odd", gvk: odd.GVK, resource: "odds", namespace: "a",
		op: "UPDATE", obj: obj, old: obj})
	if !called {
		t.Error("an unchanged UPDATE of a kind the condition cannot read was skipped")
	}
}

// TestMatchConditionsCostOnHugeObjects: on the largest pods the API server accepts (5,000
// containers, about 3 MiB of labels), the conditions stay within the API server's CEL cost budget
// for matchConditions: an error there would deny the request under failurePolicy Fail.
func TestMatchConditionsCostOnHugeObjects(t *testing.T) {
	narrow := compiled(t, "narrow", v1alpha1.Match{ExcludeNamespaces: []string{"dev"},
		ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "l1", Operator: metav1.LabelSelectorOpExists}}}})
	conds := webhookconfig.MatchConditions([]*policy.Policy{narrow}, workload.BuiltinCustomKinds)
	var containers, labels []string
	for i := range 5000 {
		containers = append(containers, fmt.Sprintf(`{"name":"c%d","image":"registry.example/app:1.0","securityContext":{"privileged":true}}`, i))
	}
	for i := range 40000 {
		labels = append(labels, fmt.Sprintf(`"l%d":"%s"`, i, strings.Repeat("v", 60)))
	}
	obj := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"prod","labels":{` + strings.Join(labels, ",") +
		`}},"spec":{"containers":[` + strings.Join(containers, ",") + `]}}`)
	if len(obj) < 3<<20 {
		t.Fatalf("the object is %d bytes, want about 3 MiB", len(obj))
	}
	for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update} {
		// match fails the test on an evaluation error, a cost budget exceeded among them.
		called, _ := match(t, newMatcher(t, conds), apiRequest{name: "huge " + string(op), gvk: schema.GroupVersionKind{Version: "v1", Kind: "Pod"},
			resource: "pods", namespace: "prod", op: op, obj: obj, old: obj})
		if want := op == admissionv1.Create; called != want {
			t.Errorf("%s of a huge pod: called %v, want %v", op, called, want)
		}
	}
}

// TestPolicyLeftToItsVAPIsNotCalled: a policy whose synced VAP enforces every rule it enables
// exactly gives the webhook nothing to judge, so the conditions never call it for that policy; one
// rule left to the webhook (or a signature) is enough to call it again.
func TestPolicyLeftToItsVAPIsNotCalled(t *testing.T) {
	compile := func(skip ...string) *policy.Policy {
		p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1alpha1.PolicySpec{
			Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden, HostNamespaces: v1alpha1.Forbidden},
		}})
		if err != nil {
			t.Fatal(err)
		}
		p.SkipRules = map[string]bool{}
		for _, r := range skip {
			p.SkipRules[r] = true
		}
		return p
	}
	never := []admissionregistrationv1.MatchCondition{{Name: webhookconfig.NoPolicyCondition, Expression: "false"}}
	all := compile("containers.privileged", "containers.hostNamespaces")
	if got := webhookconfig.MatchConditions([]*policy.Policy{all}, nil); !cmp.Equal(got, never) {
		t.Errorf("every rule left to the VAP: conditions %v, want never to call", got)
	}
	some := compile("containers.privileged")
	if got := webhookconfig.MatchConditions([]*policy.Policy{some}, nil); cmp.Equal(got, never) {
		t.Errorf("a rule left to the webhook: the conditions never call it")
	}
	if got := webhookconfig.MatchConditions([]*policy.Policy{all, some}, nil); cmp.Equal(got, never) {
		t.Errorf("one policy left to its VAP and one not: the conditions never call the webhook")
	}
}
