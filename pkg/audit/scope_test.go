package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

const sealgateNS = "sealgate-system"

// clusterNamespaces are the namespaces of the scope tests, with the labels the API server and a
// rollout by label would give them.
func clusterNamespaces() *namespaces {
	return &namespaces{labels: map[string]map[string]string{
		"kube-system": nsLabels("kube-system", "sealgate.dev/enabled", "true"),
		sealgateNS:    nsLabels(sealgateNS, "sealgate.dev/enabled", "true"),
		"legacy":      nsLabels("legacy", "sealgate.dev/enabled", "true"),
		"prod":        nsLabels("prod", "sealgate.dev/enabled", "true", "env", "prod"),
		"dev":         nsLabels("dev"),
	}}
}

// rolloutWebhook is the configuration the chart renders when namespaces are enrolled one by one,
// with an object selector that lets an object opt out.
func rolloutWebhook(t *testing.T) audit.Scope {
	t.Helper()
	vwc, err := webhookconfig.Validating(webhookconfig.Options{Name: "sealgate", Namespace: sealgateNS, Service: "sealgate",
		ExcludeNamespaces: []string{"legacy"},
		NamespaceSelector: []metav1.LabelSelectorRequirement{{Key: "sealgate.dev/enabled", Operator: metav1.LabelSelectorOpIn, Values: []string{"true"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range vwc.Webhooks {
		if vwc.Webhooks[i].Name == webhookconfig.WorkloadWebhook {
			vwc.Webhooks[i].ObjectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "sealgate.dev/skip", Operator: metav1.LabelSelectorOpDoesNotExist}}}
		}
	}
	s, err := audit.ScopeFromWebhook(vwc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Source, "sealgate") {
		t.Errorf("Source = %q, want it to name the configuration", s.Source)
	}
	return s
}

func TestScopeFromWebhook(t *testing.T) {
	s := rolloutWebhook(t)
	a := &audit.Auditor{Engine: &engine.Engine{Rules: rules.Default(), Namespaces: clusterNamespaces()},
		Policies: threePolicies(t), Scope: s}
	skipped := typedPod("prod", "opted-out", spec(goodImage, true))
	skipped.Labels["sealgate.dev/skip"] = "true"
	var objs []*audit.Object
	for _, ns := range []string{"kube-system", sealgateNS, "legacy", "dev", "prod"} {
		objs = append(objs, object(t, typedPod(ns, "p", spec(goodImage, true))))
	}
	objs = append(objs, object(t, skipped))
	r, entries, sum := run(t, a, objs)

	want := []entryView{{Ref: "v1 Pod prod/p", UID: uid("Pod", "p"), Pods: 1,
		Findings: []string{"|" + privileged + "|spec.containers[0].securityContext.privileged"}}}
	if diff := cmp.Diff(want, view(entries)); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if sum.OutOfScope != 4 || sum.Skipped != 1 || sum.Objects != 1 || sum.Pods != 1 {
		t.Errorf("summary: out of scope %d, skipped %d, objects %d, pods %d; want 4, 1, 1, 1",
			sum.OutOfScope, sum.Skipped, sum.Objects, sum.Pods)
	}
	var listed []string
	for _, nt := range sum.Namespaces {
		listed = append(listed, nt.Namespace)
	}
	if diff := cmp.Diff([]string{"prod"}, listed); diff != "" {
		t.Errorf("namespaces in the summary (-want +got):\n%s", diff)
	}
	for name, in := range map[string]bool{"kube-system": false, sealgateNS: false, "legacy": false, "dev": false, "prod": true} {
		ns := r.Namespaces[name]
		if ns == nil || ns.InScope != in {
			t.Errorf("namespace %s: %+v, want InScope %v", name, ns, in)
			continue
		}
		if rep := audit.NamespaceReport(ns, time.Unix(1, 0)); (rep != nil) != in {
			t.Errorf("namespace %s: report %v, want one only in scope", name, rep)
		}
	}
}

func TestScopeFromWebhookErrors(t *testing.T) {
	vwc, err := webhookconfig.Validating(webhookconfig.Options{Namespace: sealgateNS, Service: "sealgate"})
	if err != nil {
		t.Fatal(err)
	}
	noWorkloads := vwc.DeepCopy()
	noWorkloads.Webhooks = noWorkloads.Webhooks[1:]
	if _, err := audit.ScopeFromWebhook(noWorkloads); err == nil || !strings.Contains(err.Error(), webhookconfig.WorkloadWebhook) {
		t.Errorf("configuration without the workload webhook: error %v, want one naming %s", err, webhookconfig.WorkloadWebhook)
	}
	bad := vwc.DeepCopy()
	bad.Webhooks[0].ObjectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "x", Operator: "Near"}}}
	if _, err := audit.ScopeFromWebhook(bad); err == nil || !strings.Contains(err.Error(), "objectSelector") {
		t.Errorf("invalid objectSelector: error %v, want one naming objectSelector", err)
	}
	// An empty selector matches everything, as the API server reads it.
	all := vwc.DeepCopy()
	all.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{}
	s, err := audit.ScopeFromWebhook(all)
	if err != nil || s.Namespaces != nil || s.Objects != nil {
		t.Errorf("empty selectors: %+v, %v; want nil selectors", s, err)
	}
}

func TestDefaultScope(t *testing.T) {
	s, err := audit.DefaultScope(sealgateNS, "legacy")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Source, sealgateNS) || s.Objects != nil || s.Namespaces == nil {
		t.Fatalf("DefaultScope = %+v", s)
	}
	a := &audit.Auditor{Engine: &engine.Engine{Rules: rules.Default(), Namespaces: clusterNamespaces()},
		Policies: threePolicies(t), Scope: s}
	var objs []*audit.Object
	for _, ns := range []string{"kube-system", sealgateNS, "legacy", "dev", "prod"} {
		objs = append(objs, object(t, typedPod(ns, "p", spec(goodImage, true))))
	}
	r, _, sum := run(t, a, objs)
	if sum.OutOfScope != 3 || sum.Objects != 2 || !r.Namespaces["dev"].InScope || !r.Namespaces["prod"].InScope {
		t.Errorf("default scope: out of scope %d, objects %d; want kube-system, %s and legacy out, dev and prod in",
			sum.OutOfScope, sum.Objects, sealgateNS)
	}
	if _, err := audit.DefaultScope(""); err == nil {
		t.Error("DefaultScope without a namespace: want an error")
	}
}

// TestUnreadableNamespace: a namespace whose labels cannot be read is not taken out of scope; the
// engine reports the failed lookup for every policy with a namespace selector, as admission would.
func TestUnreadableNamespace(t *testing.T) {
	nss := clusterNamespaces()
	nss.broken = map[string]bool{"prod": true}
	selective := compile(t, "prod-only", v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce,
		Match:  v1alpha1.Match{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}},
		Images: &v1alpha1.ImageRules{DisallowLatestTag: true}})
	a := &audit.Auditor{Engine: &engine.Engine{Rules: rules.Default(), Namespaces: nss},
		Policies: []*policy.Policy{selective, warnLatest(t)}, Scope: rolloutWebhook(t)}
	r, entries, sum := run(t, a, objects(t, typedPod("prod", "p", spec(latestImage, false))))
	if !r.Namespaces["prod"].InScope || sum.OutOfScope != 0 {
		t.Fatalf("unreadable namespace: InScope %v, out of scope %d; want in scope", r.Namespaces["prod"].InScope, sum.OutOfScope)
	}
	want := []entryView{{Ref: "v1 Pod prod/p", UID: uid("Pod", "p"), Pods: 1, Findings: []string{
		"|prod-only/" + engine.RuleNamespaceLookup + "|metadata.namespace",
		"|" + latest + "|spec.containers[0].image",
	}}}
	if diff := cmp.Diff(want, view(entries)); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if sum.Denied != 1 || sum.Warned != 1 {
		t.Errorf("denied %d, warned %d; want 1 and 1 (the failed lookup denies in Enforce)", sum.Denied, sum.Warned)
	}
}

// TestAddNamespaceRecountsOutOfScope: the background audit recomputes a namespace whenever it
// changes, kube-system included; its objects are counted out of scope once, not once per scan.
func TestAddNamespaceRecountsOutOfScope(t *testing.T) {
	a := &audit.Auditor{Engine: &engine.Engine{Rules: rules.Default(), Namespaces: clusterNamespaces()},
		Policies: threePolicies(t), Scope: rolloutWebhook(t)}
	r := audit.NewResult()
	system := objects(t, typedPod("kube-system", "a", spec(goodImage, true)), typedPod("kube-system", "b", spec(goodImage, true)))
	for range 3 {
		a.AddNamespace(context.Background(), r, "kube-system", system)
		a.AddNamespace(context.Background(), r, "prod", objects(t, typedPod("prod", "p", spec(goodImage, true))))
	}
	_, sum := r.Finish()
	if sum.OutOfScope != 2 || sum.Objects != 1 {
		t.Errorf("after three scans of kube-system (2 pods): out of scope %d, objects %d; want 2 and 1", sum.OutOfScope, sum.Objects)
	}
}
