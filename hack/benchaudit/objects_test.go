package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

var testSizes = sizes{Namespaces: 4, Pods: 240, Replicas: 5, StatefulSets: 1, StatefulSetReplicas: 3, DaemonSets: 1, Nodes: 4,
	CronJobs: 1, BarePods: 2, Violating: 0.2}

// TestPlanSizes checks the layout the benchmark's figures are quoted with: at least the pods asked
// for, the fraction of violating objects, and every kind of violation used.
func TestPlanSizes(t *testing.T) {
	p := newPlan(defaultSizes)
	if p.Pods < defaultSizes.Pods {
		t.Errorf("%d pods, want at least %d", p.Pods, defaultSizes.Pods)
	}
	if got, want := p.Violating, int(float64(len(p.Units))*defaultSizes.Violating); got != want {
		t.Errorf("%d violating units of %d, want %d", got, len(p.Units), want)
	}
	for v := violation(1); v < numViolations; v++ {
		if p.ViolatingByViolation[v] == 0 {
			t.Errorf("no unit has violation %q", v)
		}
	}
	for _, kind := range []string{"Deployment", "StatefulSet", "DaemonSet", "CronJob", "Pod"} {
		if p.Kinds[kind] == 0 {
			t.Errorf("no %s", kind)
		}
	}
}

// TestPodSize keeps the pods realistic: the benchmark says a pod is 3-4 KB of JSON.
func TestPodSize(t *testing.T) {
	for _, kind := range []string{"Deployment", "Pod"} {
		items := unitObjects(unit{Kind: kind, Namespace: "bench-00", Name: "web-cart-000", Pods: 1})
		pod := items[len(items)-1].Obj.(*corev1.Pod)
		b, err := json.Marshal(pod)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s pod: %d bytes of JSON", kind, len(b))
		if len(b) < 3000 || len(b) > 4000 {
			t.Errorf("%s pod: %d bytes of JSON, want 3000-4000", kind, len(b))
		}
	}
}

// TestIntendedViolations audits the objects of a small plan with examples/policies, as `sealgate
// audit` does after listing them, and requires exactly the intended findings: every violating unit
// reported once, through its top owner with all its pods, in the modes its violation breaks, and
// nothing else. The benchmark compares the CLI's count with the plan's on this ground.
func TestIntendedViolations(t *testing.T) {
	p := newPlan(testSizes)
	policies, err := policy.LoadPaths([]string{"../../examples/policies"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	nsLabels := nsLabelsOf(p)
	scope, err := audit.DefaultScope("sealgate-system")
	if err != nil {
		t.Fatal(err)
	}
	a := &audit.Auditor{Engine: &engine.Engine{Rules: rules.Default(), Namespaces: nsLabels}, Policies: policies, Scope: scope}
	res := audit.NewResult()
	for _, u := range p.Units {
		items := unitObjects(u)
		for i := range items {
			items[i].Obj.SetUID(types.UID(fmt.Sprintf("%s/%s/%d", u.Namespace, u.Name, i)))
			linkOwner(items, i)
			obj, err := audit.FromTyped(items[i].Obj)
			if err != nil {
				t.Fatal(err)
			}
			a.Add(context.Background(), res, obj)
		}
	}
	entries, sum := res.Finish()
	if sum.Objects != len(p.Units) || sum.Pods != p.Pods {
		t.Errorf("audited %d objects and %d pods, want %d and %d", sum.Objects, sum.Pods, len(p.Units), p.Pods)
	}
	got := map[string]*audit.Entry{}
	for _, e := range entries {
		key := e.Kind + " " + e.Namespace + "/" + e.Name
		if got[key] != nil {
			t.Errorf("%s reported twice", key)
		}
		got[key] = e
	}
	for _, u := range p.Units {
		key := u.Kind + " " + u.Namespace + "/" + u.Name
		e := got[key]
		delete(got, key)
		if u.Violation == compliant {
			if e != nil {
				t.Errorf("%s is compliant but reported: %v", key, e.Violations)
			}
			continue
		}
		if e == nil {
			t.Errorf("%s (%s) not reported", key, u.Violation)
			continue
		}
		if e.Pods != u.Pods {
			t.Errorf("%s: %d pods, want %d", key, e.Pods, u.Pods)
		}
		modes := map[v1alpha1.Mode]bool{}
		for _, f := range e.Violations {
			modes[f.Mode] = true
		}
		want := wantModes(u)
		if fmt.Sprint(modes) != fmt.Sprint(want) {
			t.Errorf("%s (%s, prod %v): modes %v, want %v; violations %v", key, u.Violation, u.Prod, modes, want, e.Violations)
		}
	}
	for key := range got {
		t.Errorf("%s reported, but is not a unit", key)
	}
	if len(entries) != p.Violating {
		t.Errorf("%d objects reported, want %d", len(entries), p.Violating)
	}
}

// wantModes are the modes of the example policies that a unit's violation breaks.
func wantModes(u unit) map[v1alpha1.Mode]bool {
	m := map[v1alpha1.Mode]bool{}
	switch u.Violation {
	case privileged, hostPathVol, addSysAdmin:
		m[v1alpha1.ModeEnforce] = true // baseline
	case latestTag:
		m[v1alpha1.ModeWarn] = true  // warn-latest
		m[v1alpha1.ModeAudit] = true // audit-digests: no digest
	case noMemoryLimit:
		m[v1alpha1.ModeAudit] = true // audit-digests
	}
	if u.Prod && u.Violation != compliant {
		m[v1alpha1.ModeEnforce] = true // production
	}
	return m
}

type staticLabels map[string]map[string]string

func (s staticLabels) Labels(_ context.Context, name string) (map[string]string, error) {
	l, ok := s[name]
	if !ok {
		return nil, fmt.Errorf("no namespace %s", name)
	}
	return l, nil
}

func nsLabelsOf(p plan) staticLabels {
	out := staticLabels{}
	for _, ns := range p.Namespaces {
		l := map[string]string{"kubernetes.io/metadata.name": ns.Name}
		for k, v := range ns.Labels {
			l[k] = v
		}
		out[ns.Name] = l
	}
	return out
}
