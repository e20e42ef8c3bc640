package vap_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/vap"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// TestExamplesCompile compiles every example policy: each validation must compile in the VAP
// plugin's environment, and every rule the policy enables must be listed with its state.
func TestExamplesCompile(t *testing.T) {
	paths, err := filepath.Glob("../../examples/policies/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no example policies: %v", err)
	}
	ps, err := policy.LoadPaths(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		res, err := vap.Compile(p)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if res.Policy == nil {
			if len(res.Checks) != 0 || res.Binding != nil {
				t.Errorf("%s: no policy but %d checks, binding %v", p.Name, len(res.Checks), res.Binding)
			}
			t.Logf("%s: nothing compiled: %+v", p.Name, res.Rules)
			continue
		}
		newValidator(t, res.Policy) // fails the test on a compile error
		for i, v := range res.Policy.Spec.Validations {
			if v.Reason == nil || *v.Reason != metav1.StatusReasonForbidden {
				t.Errorf("%s: validation %d (%s) answers %v, not Forbidden as the webhook does", p.Name, i, res.Checks[i], v.Reason)
			}
		}
		counts := map[vap.State]int{}
		for _, st := range res.Rules {
			counts[st.State]++
			if st.State != vap.Exact && st.Reason == "" {
				t.Errorf("%s: rule %s is %s without a reason", p.Name, st.Rule, st.State)
			}
		}
		if len(res.Rules) == 0 || len(res.Checks) != len(res.Policy.Spec.Validations) {
			t.Errorf("%s: %d rules listed, %d checks for %d validations", p.Name, len(res.Rules), len(res.Checks), len(res.Policy.Spec.Validations))
		}
		t.Logf("%s: %d validations; rules %d exact, %d conservative, %d not compiled", p.Name,
			len(res.Policy.Spec.Validations), counts[vap.Exact], counts[vap.Conservative], counts[vap.NotCompiled])
	}
}

func compile(t *testing.T, spec v1alpha1.PolicySpec) *vap.Result {
	t.Helper()
	cap := &v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Spec: spec}
	cap.Default()
	p, err := policy.Compile(cap)
	if err != nil {
		t.Fatal(err)
	}
	res, err := vap.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestModeToValidationActions(t *testing.T) {
	for mode, want := range map[v1alpha1.Mode]admissionv1.ValidationAction{
		v1alpha1.ModeEnforce: admissionv1.Deny, v1alpha1.ModeWarn: admissionv1.Warn, v1alpha1.ModeAudit: admissionv1.Audit,
	} {
		res := compile(t, v1alpha1.PolicySpec{Mode: mode, Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden}})
		if got := res.Binding.Spec.ValidationActions; !slices.Equal(got, []admissionv1.ValidationAction{want}) {
			t.Errorf("mode %s: validationActions %v, want [%s]", mode, got, want)
		}
	}
}

func TestMatch(t *testing.T) {
	res := compile(t, v1alpha1.PolicySpec{
		Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden},
		Match: v1alpha1.Match{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
			ObjectSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
			ExcludeNamespaces: []string{"dev"},
			Kinds:             []string{"Deployment", "CronJob"},
		},
	})
	if res.Policy.Name != "sealgate-team" || res.Binding.Name != "sealgate-team" || res.Binding.Spec.PolicyName != "sealgate-team" {
		t.Errorf("names: policy %q, binding %q for %q; want sealgate-team", res.Policy.Name, res.Binding.Name, res.Binding.Spec.PolicyName)
	}
	m := res.Binding.Spec.MatchResources
	ns := m.NamespaceSelector
	// The policy's exclusion, then the webhook's: kube-system, which the webhook is never sent.
	if ns.MatchLabels["team"] != "a" || len(ns.MatchExpressions) != 2 ||
		ns.MatchExpressions[0].Key != "kubernetes.io/metadata.name" || ns.MatchExpressions[0].Operator != metav1.LabelSelectorOpNotIn ||
		!slices.Equal(ns.MatchExpressions[0].Values, []string{"dev"}) || !slices.Equal(ns.MatchExpressions[1].Values, []string{"kube-system"}) {
		t.Errorf("namespaceSelector %+v, want team=a, the excluded namespace and kube-system as NotIn", ns)
	}
	if m.ObjectSelector.MatchLabels["app"] != "x" {
		t.Errorf("objectSelector %+v, want app=x", m.ObjectSelector)
	}
	var resources []string
	for _, r := range res.Policy.Spec.MatchConstraints.ResourceRules {
		resources = append(resources, r.Resources...)
	}
	if !slices.Equal(resources, []string{"deployments", "cronjobs"}) {
		t.Errorf("resources %v, want deployments and cronjobs", resources)
	}
	// CronJob's pod spec is deeper than the others: the variable picks it by kind.
	spec := res.Policy.Spec.Variables[0].Expression
	if !strings.Contains(spec, "object.spec.jobTemplate.spec.template.spec") || !strings.Contains(spec, "object.spec.template.spec") {
		t.Errorf("spec variable %q does not pick the CronJob's pod spec", spec)
	}
}

// TestBindingRequiresTheWebhookScope: the binding matches only what sealgate's workload webhook is
// sent, so that the VAP never judges a namespace or object the webhook never sees.
func TestBindingRequiresTheWebhookScope(t *testing.T) {
	vwc, err := webhookconfig.Validating(webhookconfig.Options{Namespace: "sg", URL: "https://x.invalid", ExcludeNamespaces: []string{"infra"},
		NamespaceSelector: []metav1.LabelSelectorRequirement{{Key: "rollout", Operator: metav1.LabelSelectorOpExists}}})
	if err != nil {
		t.Fatal(err)
	}
	ns, obj, ok := webhookconfig.WorkloadSelectors(vwc)
	if !ok {
		t.Fatal("no workload webhook")
	}
	obj = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "b", "tier": "web"}}
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "scope"}, Spec: v1alpha1.PolicySpec{
		Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden},
		Match:      v1alpha1.Match{ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := vap.CompileWithOptions(rules.Default(), p, vap.Options{WebhookNamespaceSelector: ns, WebhookObjectSelector: obj})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Binding.Spec.MatchResources
	nsSel, err := metav1.LabelSelectorAsSelector(m.NamespaceSelector)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"kubernetes.io/metadata.name": "apps", "rollout": "1"}, true},
		{map[string]string{"kubernetes.io/metadata.name": "apps"}, false},
		{map[string]string{"kubernetes.io/metadata.name": "kube-system", "rollout": "1"}, false},
		{map[string]string{"kubernetes.io/metadata.name": "sg", "rollout": "1"}, false},
		{map[string]string{"kubernetes.io/metadata.name": "infra", "rollout": "1"}, false},
	} {
		if got := nsSel.Matches(labels.Set(c.labels)); got != c.want {
			t.Errorf("namespace %v: binding matches %v, want %v (%+v)", c.labels, got, c.want, m.NamespaceSelector)
		}
	}
	objSel, err := metav1.LabelSelectorAsSelector(m.ObjectSelector)
	if err != nil {
		t.Fatal(err)
	}
	// The policy wants team=a, the webhook team=b: nothing is both.
	for _, l := range []map[string]string{{"team": "a", "tier": "web"}, {"team": "b", "tier": "web"}} {
		if objSel.Matches(labels.Set(l)) {
			t.Errorf("object %v: binding matches, but the policy and the webhook disagree on team (%+v)", l, m.ObjectSelector)
		}
	}
}

func TestNotCompiledRulesAreListed(t *testing.T) {
	res := compile(t, v1alpha1.PolicySpec{
		Containers:  &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden},
		ImageConfig: &v1alpha1.ImageConfigRules{RunAsRoot: v1alpha1.Forbidden},
	})
	var got []string
	for _, st := range res.Rules {
		got = append(got, st.Rule+"="+string(st.State))
	}
	for _, want := range []string{"containers.privileged=Exact", "imageConfig.runAsRoot=NotCompiled"} {
		if !slices.Contains(got, want) {
			t.Errorf("rule states %v lack %s", got, want)
		}
	}
}

// TestWaivedRulesAreLeftOut: a rule a PolicyException waives, by its ID or its family, is not in the
// VAP (which cannot honour the exception) and is listed NotCompiled naming the exception; the
// others compile as before, and a policy whose every compiled rule is waived compiles to nothing.
func TestWaivedRulesAreLeftOut(t *testing.T) {
	cap := &v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Spec: v1alpha1.PolicySpec{
		Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden, ReadOnlyRootFilesystem: v1alpha1.Required}}}
	cap.Default()
	p, err := policy.Compile(cap)
	if err != nil {
		t.Fatal(err)
	}
	const why = "waived by PolicyException sealgate-system/agent, which a ValidatingAdmissionPolicy cannot honour"
	for _, tc := range []struct {
		name   string
		waived map[string]string
		checks []string
		states []string
	}{
		{"none", nil, []string{"containers.privileged", "containers.readOnlyRootFilesystem"},
			[]string{"containers.privileged=Exact", "containers.readOnlyRootFilesystem=Exact"}},
		{"by ID", map[string]string{"containers.privileged": "sealgate-system/agent"}, []string{"containers.readOnlyRootFilesystem"},
			[]string{"containers.privileged=NotCompiled:" + why, "containers.readOnlyRootFilesystem=Exact"}},
		{"by family", map[string]string{"containers": "sealgate-system/agent"}, nil,
			[]string{"containers.privileged=NotCompiled:" + why, "containers.readOnlyRootFilesystem=NotCompiled:" + why}},
		{"another rule", map[string]string{"containers.privilegedd": "x/y", "images": "x/y"}, []string{"containers.privileged", "containers.readOnlyRootFilesystem"},
			[]string{"containers.privileged=Exact", "containers.readOnlyRootFilesystem=Exact"}},
	} {
		res, err := vap.CompileWithOptions(rules.Default(), p, vap.Options{Waived: tc.waived})
		if err != nil {
			t.Fatal(err)
		}
		var states []string
		for _, st := range res.Rules {
			s := st.Rule + "=" + string(st.State)
			if st.State == vap.NotCompiled {
				s += ":" + st.Reason
			}
			states = append(states, s)
		}
		// A rule has a validation per container list; its rule ID is listed once here.
		checks := slices.Compact(slices.Clone(res.Checks))
		if !slices.Equal(checks, tc.checks) || !slices.Equal(states, tc.states) {
			t.Errorf("%s: checks %v, states %q; want %v, %q", tc.name, checks, states, tc.checks, tc.states)
		}
		if (res.Policy == nil) != (len(tc.checks) == 0) || res.Policy != nil && len(res.Policy.Spec.Validations) != len(res.Checks) {
			t.Errorf("%s: a policy (%t) for checks %v", tc.name, res.Policy != nil, tc.checks)
		}
	}
}
