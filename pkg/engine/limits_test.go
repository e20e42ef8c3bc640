package engine_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/workload"
)

// manyContainers is deployment() with n containers.
func manyContainers(n int) *workload.Workload {
	w := deployment()
	w.Spec.Containers = make([]corev1.Container, n)
	for i := range w.Spec.Containers {
		w.Spec.Containers[i] = corev1.Container{Name: "c" + strconv.Itoa(i), Image: "registry.example.com/a:1"}
	}
	return w
}

// TestResultIsBounded: a rule every container breaks, in a pod of 5,000 containers, is listed
// MaxViolationsPerRule times per policy and counted in full; the verdict is unchanged.
func TestResultIsBounded(t *testing.T) {
	const n = 5000
	e := &engine.Engine{Rules: registry(t, perContainer("first"), perContainer("second"))}
	ps := []*policy.Policy{
		compile(t, "deny", v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce}),
		compile(t, "warn", v1alpha1.PolicySpec{Mode: v1alpha1.ModeWarn}),
		compile(t, "audit", v1alpha1.PolicySpec{Mode: v1alpha1.ModeAudit}),
	}
	res := e.Evaluate(context.Background(), ps, manyContainers(n), "prod")

	if want := 3 * 2 * engine.MaxViolationsPerRule; len(res.Violations) != want {
		t.Errorf("%d violations listed, want %d", len(res.Violations), want)
	}
	more := n - engine.MaxViolationsPerRule
	want := []engine.Omission{
		{Policy: "deny", Rule: "first", Mode: v1alpha1.ModeEnforce, Count: more},
		{Policy: "deny", Rule: "second", Mode: v1alpha1.ModeEnforce, Count: more},
		{Policy: "warn", Rule: "first", Mode: v1alpha1.ModeWarn, Count: more},
		{Policy: "warn", Rule: "second", Mode: v1alpha1.ModeWarn, Count: more},
		{Policy: "audit", Rule: "first", Mode: v1alpha1.ModeAudit, Count: more},
		{Policy: "audit", Rule: "second", Mode: v1alpha1.ModeAudit, Count: more},
	}
	if diff := cmp.Diff(want, res.Omitted); diff != "" {
		t.Errorf("omitted (-want +got):\n%s", diff)
	}
	if got := res.OmittedCount(v1alpha1.ModeEnforce); got != 2*more {
		t.Errorf("OmittedCount(Enforce) = %d, want %d", got, 2*more)
	}
	if got := res.OmittedCount(""); got != 6*more {
		t.Errorf("OmittedCount(all) = %d, want %d", got, 6*more)
	}
	// The listed ones are the first containers, in order.
	if v := res.Violations[engine.MaxViolationsPerRule-1]; v.Rule != "first" || v.Container != "c"+strconv.Itoa(engine.MaxViolationsPerRule-1) {
		t.Errorf("last listed violation of the first rule is %+v", v)
	}
	if res.Allowed() {
		t.Error("Allowed() with Enforce violations")
	}
}

// TestModeLimitKeepsEnforce: Audit violations past MaxViolationsPerMode are counted, and never crowd
// out the Enforce violation that decides the verdict.
func TestModeLimitKeepsEnforce(t *testing.T) {
	var rs []rules.Rule
	for i := range 2 * engine.MaxViolationsPerMode / engine.MaxViolationsPerRule {
		rs = append(rs, perContainer("r"+strconv.Itoa(i)))
	}
	e := &engine.Engine{Rules: registry(t, rs...)}
	audit := compile(t, "audit", v1alpha1.PolicySpec{Mode: v1alpha1.ModeAudit})
	deny := compile(t, "deny", v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce})
	res := e.Evaluate(context.Background(), []*policy.Policy{audit, deny}, manyContainers(engine.MaxViolationsPerRule), "prod")

	if got := len(res.ByMode(v1alpha1.ModeAudit)); got != engine.MaxViolationsPerMode {
		t.Errorf("%d Audit violations listed, want MaxViolationsPerMode", got)
	}
	if got := res.OmittedCount(v1alpha1.ModeAudit); got != engine.MaxViolationsPerMode {
		t.Errorf("%d Audit violations omitted, want %d", got, engine.MaxViolationsPerMode)
	}
	if got := len(res.ByMode(v1alpha1.ModeEnforce)); got != engine.MaxViolationsPerMode {
		t.Errorf("%d Enforce violations listed after the Audit ones, want MaxViolationsPerMode", got)
	}
	if res.Allowed() {
		t.Error("Allowed() with Enforce violations")
	}
}

// TestAllowedCountsOmitted: a result whose only Enforce violations were omitted still denies.
func TestAllowedCountsOmitted(t *testing.T) {
	res := &engine.Result{Omitted: []engine.Omission{{Policy: "p", Rule: "r", Mode: v1alpha1.ModeEnforce, Count: 1}}}
	if res.Allowed() {
		t.Error("Allowed() = true with an omitted Enforce violation")
	}
	res.Omitted[0].Mode = v1alpha1.ModeAudit
	if !res.Allowed() {
		t.Error("Allowed() = false with only an omitted Audit violation")
	}
}

// TestViolationTextIsCut: whatever a rule or verifier says, a violation's message and path stay
// within MaxMessageBytes and MaxPathBytes, marked as cut.
func TestViolationTextIsCut(t *testing.T) {
	long := strings.Repeat("é", 1<<20) // two bytes a rune: a cut must fall between runes
	rule := rules.Rule{ID: "long", Name: "long", Check: func(_ *policy.Policy, t *rules.Target, out *rules.Findings) {
		out.Add(rules.Finding{Path: t.SpecPath + "." + long, Container: long, Message: long})
	}}
	e := &engine.Engine{Rules: registry(t, rule)}
	res := e.Evaluate(context.Background(), []*policy.Policy{compile(t, "p", v1alpha1.PolicySpec{})}, deployment(), "prod")
	if len(res.Violations) != 1 {
		t.Fatalf("violations = %d, want 1", len(res.Violations))
	}
	v := res.Violations[0]
	for _, f := range []struct {
		name, value string
		max         int
	}{{"message", v.Message, engine.MaxMessageBytes}, {"path", v.Path, engine.MaxPathBytes}, {"container", v.Container, rules.MaxValueBytes}} {
		if len(f.value) > f.max || !strings.HasSuffix(f.value, "…") {
			t.Errorf("%s is %d bytes, want at most %d ending in …", f.name, len(f.value), f.max)
		}
		if !utf8.ValidString(f.value) {
			t.Errorf("%s was cut inside a rune", f.name)
		}
	}
}
