package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/workload"
)

// fakeNamespaces answers namespace label lookups from a map and counts them.
type fakeNamespaces struct {
	labels map[string]map[string]string
	err    error
	calls  int
}

func (f *fakeNamespaces) Labels(_ context.Context, name string) (map[string]string, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	l, ok := f.labels[name]
	if !ok {
		return nil, errors.New("namespaces \"" + name + "\" not found")
	}
	return l, nil
}

// fakeSignatures returns fixed findings and records the policies it was asked about.
type fakeSignatures struct {
	findings []rules.Finding
	asked    []string
}

func (f *fakeSignatures) Verify(_ context.Context, p *policy.Policy, t *rules.Target) []rules.Finding {
	f.asked = append(f.asked, p.Name)
	if t == nil || t.Spec == nil {
		panic("Verify called without a target")
	}
	return f.findings
}

// deployment is a Deployment whose object labels (team=object) differ from its template's (team=template).
func deployment() *workload.Workload {
	tmpl := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "template"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "a", Image: "registry.example.com/a:1"},
			{Name: "b", Image: "registry.example.com/b:1"},
		}},
	}
	k, _ := workload.Lookup(workload.Kinds[1].GVK)
	return &workload.Workload{GVK: k.GVK,
		Object:   &metav1.ObjectMeta{Name: "web", Namespace: "prod", Labels: map[string]string{"team": "object"}},
		Template: &tmpl.ObjectMeta, Spec: &tmpl.Spec, SpecPath: k.SpecPath, MetaPath: k.MetaPath}
}

func compile(t *testing.T, name string, spec v1alpha1.PolicySpec) *policy.Policy {
	t.Helper()
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec})
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return p
}

// perContainer is a rule that reports every container, so order and attribution are visible. Each
// reports its own field of the container (named after the rule), so that no two are merged.
func perContainer(id string) rules.Rule {
	return sameField(id, id)
}

// sameField is a rule that reports the given field of every container.
func sameField(id, field string) rules.Rule {
	return rules.Rule{ID: id, Name: id, Check: func(p *policy.Policy, t *rules.Target, out *rules.Findings) {
		for _, c := range t.Containers() {
			out.Add(rules.Finding{Path: c.Path(field), Container: c.Name, Message: id + " on " + c.Name})
		}
	}}
}

// TestSameFieldIsOneViolation: two rules of one policy that flag the same field of the same
// container are one violation naming both rules; another policy's, or another container's, stay apart.
func TestSameFieldIsOneViolation(t *testing.T) {
	e := &engine.Engine{Rules: registry(t, sameField("containers.x", "securityContext"), perContainer("other"),
		sameField("podSecurity.x", "securityContext"))}
	ps := []*policy.Policy{compile(t, "one", v1alpha1.PolicySpec{}), compile(t, "two", v1alpha1.PolicySpec{Mode: v1alpha1.ModeWarn})}
	res := e.Evaluate(context.Background(), ps, deployment(), "prod")
	var got []string
	for _, v := range res.Violations {
		got = append(got, v.String())
	}
	want := []string{
		"spec.template.spec.containers[0].securityContext: containers.x on a [one/containers.x, podSecurity.x]",
		"spec.template.spec.containers[1].securityContext: containers.x on b [one/containers.x, podSecurity.x]",
		"spec.template.spec.containers[0].other: other on a [one/other]",
		"spec.template.spec.containers[1].other: other on b [one/other]",
		"spec.template.spec.containers[0].securityContext: containers.x on a [two/containers.x, podSecurity.x]",
		"spec.template.spec.containers[1].securityContext: containers.x on b [two/containers.x, podSecurity.x]",
		"spec.template.spec.containers[0].other: other on a [two/other]",
		"spec.template.spec.containers[1].other: other on b [two/other]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
	if n := len(res.ByMode(v1alpha1.ModeWarn)); n != 4 {
		t.Errorf("%d Warn violations, want 4", n)
	}
}

func registry(t *testing.T, rs ...rules.Rule) *rules.Registry {
	t.Helper()
	r, err := rules.NewRegistry(rs...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// silent is a registry whose one rule finds nothing: matching is observable through Result.Matched.
func silent(t *testing.T) *rules.Registry {
	return registry(t, rules.Rule{ID: "none", Name: "none", Check: func(*policy.Policy, *rules.Target, *rules.Findings) {}})
}

func selector(kv ...string) *metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &metav1.LabelSelector{MatchLabels: m}
}

func TestMatch(t *testing.T) {
	ns := &fakeNamespaces{labels: map[string]map[string]string{
		"prod": {"env": "prod", "kubernetes.io/metadata.name": "prod"},
		"dev":  {"env": "dev", "kubernetes.io/metadata.name": "dev"},
	}}
	cases := []struct {
		name      string
		match     v1alpha1.Match
		namespace string
		want      bool
	}{
		{"empty match", v1alpha1.Match{}, "prod", true},
		{"empty selectors", v1alpha1.Match{NamespaceSelector: &metav1.LabelSelector{}, ObjectSelector: &metav1.LabelSelector{}}, "prod", true},
		{"excluded namespace", v1alpha1.Match{ExcludeNamespaces: []string{"kube-system", "prod"}}, "prod", false},
		{"other namespace excluded", v1alpha1.Match{ExcludeNamespaces: []string{"kube-system"}}, "prod", true},
		{"exclusion is exact", v1alpha1.Match{ExcludeNamespaces: []string{"pro"}}, "prod", true},
		{"object selector on object labels", v1alpha1.Match{ObjectSelector: selector("team", "object")}, "prod", true},
		{"object selector ignores template labels", v1alpha1.Match{ObjectSelector: selector("team", "template")}, "prod", false},
		{"object selector expression", v1alpha1.Match{ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "team", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"template"}}}}}, "prod", true},
		{"namespace selector matches", v1alpha1.Match{NamespaceSelector: selector("env", "prod")}, "prod", true},
		{"namespace selector does not match", v1alpha1.Match{NamespaceSelector: selector("env", "prod")}, "dev", false},
		{"namespace and object selectors", v1alpha1.Match{NamespaceSelector: selector("env", "prod"), ObjectSelector: selector("team", "object")}, "prod", true},
		{"namespace matches, object does not", v1alpha1.Match{NamespaceSelector: selector("env", "prod"), ObjectSelector: selector("team", "x")}, "prod", false},
		{"exclusion wins over selector", v1alpha1.Match{NamespaceSelector: selector("env", "prod"), ExcludeNamespaces: []string{"prod"}}, "prod", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &engine.Engine{Rules: silent(t), Namespaces: ns}
			p := compile(t, "p", v1alpha1.PolicySpec{Match: c.match})
			res := e.Evaluate(context.Background(), []*policy.Policy{p}, deployment(), c.namespace)
			if got := slices.Contains(res.Matched, "p"); got != c.want {
				t.Errorf("matched = %v, want %v", got, c.want)
			}
			if len(res.Violations) != 0 {
				t.Errorf("violations: %v", res.Violations)
			}
		})
	}
}

// everyKind decodes one object of every pod-bearing kind, by kind name.
func everyKind(t *testing.T) map[string]*workload.Workload {
	t.Helper()
	out := map[string]*workload.Workload{}
	for _, k := range workload.Kinds {
		apiVersion, kind := k.GVK.ToAPIVersionAndKind()
		w, err := workload.Decode(k.GVK, []byte(`{"apiVersion":"`+apiVersion+`","kind":"`+kind+`","metadata":{"name":"x"}}`))
		if err != nil {
			t.Fatal(err)
		}
		out[kind] = w
	}
	return out
}

func TestMatchKinds(t *testing.T) {
	objects := everyKind(t)
	all := workload.KindNames()
	for _, c := range []struct {
		kinds []string
		want  []string
	}{
		{nil, all},
		{[]string{"Deployment"}, []string{"Deployment"}},
		{[]string{"apps/Deployment", "StatefulSet"}, []string{"Deployment", "StatefulSet"}},
		{[]string{"Pod"}, []string{"Pod"}},
		{[]string{"batch/CronJob", "Job"}, []string{"Job", "CronJob"}},
		{[]string{"PodTemplate", "ReplicationController"}, []string{"ReplicationController", "PodTemplate"}},
	} {
		e := &engine.Engine{Rules: silent(t)}
		p := compile(t, "p", v1alpha1.PolicySpec{Match: v1alpha1.Match{Kinds: c.kinds}})
		var got []string
		for _, kind := range all {
			if res := e.Evaluate(context.Background(), []*policy.Policy{p}, objects[kind], "prod"); slices.Contains(res.Matched, "p") {
				got = append(got, kind)
			}
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("kinds %q: matched kinds (-want +got):\n%s", c.kinds, diff)
		}
	}
}

// A policy limited to other kinds does not look the namespace up, so a failed lookup is not reported
// against objects it would never apply to.
func TestMatchKindsBeforeNamespaceLookup(t *testing.T) {
	objects := everyKind(t)
	ns := &fakeNamespaces{err: errors.New("etcdserver: request timed out")}
	e := &engine.Engine{Rules: silent(t), Namespaces: ns}
	p := compile(t, "p", v1alpha1.PolicySpec{Match: v1alpha1.Match{Kinds: []string{"Deployment"}, NamespaceSelector: selector("env", "prod")}})
	if res := e.Evaluate(context.Background(), []*policy.Policy{p}, objects["Pod"], "prod"); len(res.Violations) != 0 || len(res.Matched) != 0 || ns.calls != 0 {
		t.Errorf("Pod: violations %v, matched %v, %d lookups; want none", res.Violations, res.Matched, ns.calls)
	}
	res := e.Evaluate(context.Background(), []*policy.Policy{p}, objects["Deployment"], "prod")
	if got := ruleList(res.Violations); !slices.Equal(got, []string{"p/" + engine.RuleNamespaceLookup}) {
		t.Errorf("Deployment: violations %v, want the failed lookup", got)
	}
}

// Without a namespace source only the name label, which the API server sets and users cannot, is known.
func TestMatchWithoutNamespaceSource(t *testing.T) {
	e := &engine.Engine{Rules: silent(t)}
	byName := compile(t, "by-name", v1alpha1.PolicySpec{Match: v1alpha1.Match{NamespaceSelector: selector("kubernetes.io/metadata.name", "prod")}})
	byEnv := compile(t, "by-env", v1alpha1.PolicySpec{Match: v1alpha1.Match{NamespaceSelector: selector("env", "prod")}})
	res := e.Evaluate(context.Background(), []*policy.Policy{byName, byEnv}, deployment(), "prod")
	if diff := cmp.Diff([]string{"by-name"}, res.Matched); diff != "" {
		t.Errorf("Matched (-want +got):\n%s", diff)
	}
}

func TestNamespaceLookupOncePerRequest(t *testing.T) {
	ns := &fakeNamespaces{labels: map[string]map[string]string{"prod": {"env": "prod"}}}
	e := &engine.Engine{Rules: silent(t), Namespaces: ns}
	var ps []*policy.Policy
	for _, name := range []string{"a", "b", "c"} {
		ps = append(ps, compile(t, name, v1alpha1.PolicySpec{Match: v1alpha1.Match{NamespaceSelector: selector("env", "prod")}}))
	}
	ps = append(ps, compile(t, "no-selector", v1alpha1.PolicySpec{}))
	res := e.Evaluate(context.Background(), ps, deployment(), "prod")
	if ns.calls != 1 {
		t.Errorf("namespace looked up %d times, want 1", ns.calls)
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "no-selector"}, res.Matched); diff != "" {
		t.Errorf("Matched (-want +got):\n%s", diff)
	}
	// No policy with a namespace selector: no lookup at all.
	ns.calls = 0
	e.Evaluate(context.Background(), ps[3:], deployment(), "prod")
	if ns.calls != 0 {
		t.Errorf("namespace looked up %d times for policies without a namespaceSelector", ns.calls)
	}
}

// A failed namespace lookup never means "no match": each policy that needed it reports a violation
// in its own mode, so Enforce denies and Warn/Audit admit and report.
func TestNamespaceLookupError(t *testing.T) {
	ns := &fakeNamespaces{err: errors.New("connection refused")}
	for _, mode := range []v1alpha1.Mode{v1alpha1.ModeEnforce, v1alpha1.ModeWarn, v1alpha1.ModeAudit} {
		t.Run(string(mode), func(t *testing.T) {
			e := &engine.Engine{Rules: registry(t, perContainer("r")), Namespaces: ns}
			p := compile(t, "sel", v1alpha1.PolicySpec{Mode: mode, Match: v1alpha1.Match{NamespaceSelector: selector("env", "prod")}})
			res := e.Evaluate(context.Background(), []*policy.Policy{p}, deployment(), "prod")
			if diff := cmp.Diff([]string{"sel"}, res.Matched); diff != "" {
				t.Errorf("Matched (-want +got):\n%s", diff)
			}
			if len(res.Violations) != 1 {
				t.Fatalf("violations = %v, want exactly the lookup failure (rules do not run)", res.Violations)
			}
			v := res.Violations[0]
			if v.Rule != "match.namespaceSelector" || v.Mode != mode || v.Policy != "sel" ||
				v.Path != "metadata.namespace" {
				t.Errorf("violation = %+v", v)
			}
			for _, want := range []string{`"prod"`, "connection refused", "fails closed"} {
				if !strings.Contains(v.Message, want) {
					t.Errorf("message %q does not contain %q", v.Message, want)
				}
			}
			if got, want := res.Allowed(), mode != v1alpha1.ModeEnforce; got != want {
				t.Errorf("Allowed() = %v, want %v", got, want)
			}
		})
	}
	t.Run("excluded namespace needs no lookup", func(t *testing.T) {
		ns := &fakeNamespaces{err: errors.New("boom")}
		e := &engine.Engine{Rules: silent(t), Namespaces: ns}
		p := compile(t, "sel", v1alpha1.PolicySpec{Match: v1alpha1.Match{
			NamespaceSelector: selector("env", "prod"), ExcludeNamespaces: []string{"prod"}}})
		res := e.Evaluate(context.Background(), []*policy.Policy{p}, deployment(), "prod")
		if len(res.Violations) != 0 || len(res.Matched) != 0 || ns.calls != 0 {
			t.Errorf("result %+v after %d lookups, want nothing", res, ns.calls)
		}
	})
	t.Run("policies without a selector still run", func(t *testing.T) {
		e := &engine.Engine{Rules: registry(t, perContainer("r")), Namespaces: ns}
		sel := compile(t, "sel", v1alpha1.PolicySpec{Mode: v1alpha1.ModeAudit, Match: v1alpha1.Match{NamespaceSelector: selector("env", "prod")}})
		all := compile(t, "all", v1alpha1.PolicySpec{Mode: v1alpha1.ModeWarn})
		res := e.Evaluate(context.Background(), []*policy.Policy{sel, all}, deployment(), "prod")
		got := ruleList(res.Violations)
		want := []string{"sel/match.namespaceSelector", "all/r", "all/r"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("violations (-want +got):\n%s", diff)
		}
	})
}

func ruleList(vs []engine.Violation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Policy + "/" + v.Rule
	}
	return out
}

// Every matching policy applies; violations come in policy order, then rule order, then container order.
func TestViolationOrder(t *testing.T) {
	e := &engine.Engine{Rules: registry(t, perContainer("first"), perContainer("second"))}
	ps := []*policy.Policy{
		compile(t, "zeta", v1alpha1.PolicySpec{Mode: v1alpha1.ModeWarn}),
		compile(t, "skipped", v1alpha1.PolicySpec{Match: v1alpha1.Match{ExcludeNamespaces: []string{"prod"}}}),
		compile(t, "alpha", v1alpha1.PolicySpec{}),
		compile(t, "mid", v1alpha1.PolicySpec{Mode: v1alpha1.ModeAudit}),
	}
	res := e.Evaluate(context.Background(), ps, deployment(), "prod")
	if diff := cmp.Diff([]string{"zeta", "alpha", "mid"}, res.Matched); diff != "" {
		t.Errorf("Matched (-want +got):\n%s", diff)
	}
	var want []engine.Violation
	for _, p := range []struct {
		name string
		mode v1alpha1.Mode
	}{{"zeta", v1alpha1.ModeWarn}, {"alpha", v1alpha1.ModeEnforce}, {"mid", v1alpha1.ModeAudit}} {
		for _, r := range []string{"first", "second"} {
			for i, c := range []string{"a", "b"} {
				want = append(want, engine.Violation{Policy: p.name, Rule: r, Mode: p.mode,
					Path: "spec.template.spec.containers[" + string(rune('0'+i)) + "]." + r, Container: c, Message: r + " on " + c})
			}
		}
	}
	if diff := cmp.Diff(want, res.Violations); diff != "" {
		t.Errorf("Violations (-want +got):\n%s", diff)
	}
	if res.Allowed() {
		t.Error("Allowed() = true with an Enforce violation")
	}
	if got := len(res.ByMode(v1alpha1.ModeWarn)); got != 4 {
		t.Errorf("ByMode(Warn) has %d violations, want 4", got)
	}
	if got := ruleList(res.ByMode(v1alpha1.ModeAudit)); !slices.Equal(got, []string{"mid/first", "mid/first", "mid/second", "mid/second"}) {
		t.Errorf("ByMode(Audit) = %v", got)
	}
}

func TestAllowedWithWarnAndAuditOnly(t *testing.T) {
	e := &engine.Engine{Rules: registry(t, perContainer("r"))}
	ps := []*policy.Policy{
		compile(t, "warn", v1alpha1.PolicySpec{Mode: v1alpha1.ModeWarn}),
		compile(t, "audit", v1alpha1.PolicySpec{Mode: v1alpha1.ModeAudit}),
		compile(t, "enforce-elsewhere", v1alpha1.PolicySpec{Match: v1alpha1.Match{ExcludeNamespaces: []string{"prod"}}}),
	}
	res := e.Evaluate(context.Background(), ps, deployment(), "prod")
	if len(res.Violations) != 4 {
		t.Fatalf("violations = %v, want 4", res.Violations)
	}
	if !res.Allowed() {
		t.Error("Allowed() = false with only Warn and Audit violations")
	}
	if len(res.ByMode(v1alpha1.ModeEnforce)) != 0 {
		t.Error("Enforce violations reported")
	}
	if empty := (&engine.Result{}); !empty.Allowed() {
		t.Error("an empty result must be allowed")
	}
}

// The built-in rules report paths under the workload's own spec path.
func TestBuiltinRulesUseWorkloadPaths(t *testing.T) {
	e := &engine.Engine{Rules: rules.Default()}
	p := compile(t, "registries", v1alpha1.PolicySpec{Images: &v1alpha1.ImageRules{AllowedRegistries: []string{"registry.example.com/a"}}})
	res := e.Evaluate(context.Background(), []*policy.Policy{p}, deployment(), "prod")
	if len(res.Violations) != 1 {
		t.Fatalf("violations = %v", res.Violations)
	}
	v := res.Violations[0]
	if v.Rule != "images.allowedRegistries" || v.Path != "spec.template.spec.containers[1].image" || v.Container != "b" ||
		v.Mode != v1alpha1.ModeEnforce {
		t.Errorf("violation = %+v", v)
	}
}

// testPublicKey is a P-256 public key: policy validation parses keys, and these tests never verify.
const testPublicKey = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKJY4PBsXbeHg6qtNrcjvlAsBmyiO
IfIUydR4G/h7oCDdt9yovFZEW2HGL18w/PiD21gQbeJHbJ9HnoXZmbXKmw==
-----END PUBLIC KEY-----
`

func signaturePolicy(t *testing.T, name string, mode v1alpha1.Mode) *policy.Policy {
	return compile(t, name, v1alpha1.PolicySpec{Mode: mode, Signatures: []v1alpha1.SignatureRule{{
		Images:    []string{"registry.example.com/**"},
		Attestors: []v1alpha1.Attestor{{Name: "release", PublicKey: testPublicKey}},
	}}})
}

func TestSignatures(t *testing.T) {
	plain := compile(t, "plain", v1alpha1.PolicySpec{})
	t.Run("no verifier fails closed", func(t *testing.T) {
		e := &engine.Engine{Rules: silent(t)}
		res := e.Evaluate(context.Background(), []*policy.Policy{plain, signaturePolicy(t, "signed", v1alpha1.ModeEnforce)}, deployment(), "prod")
		if len(res.Violations) != 1 {
			t.Fatalf("violations = %v, want one", res.Violations)
		}
		v := res.Violations[0]
		if v.Rule != "signatures" || v.Policy != "signed" || v.Mode != v1alpha1.ModeEnforce ||
			v.Path != "spec.signatures" || !strings.Contains(v.Message, "fails closed") {
			t.Errorf("violation = %+v", v)
		}
		if res.Allowed() {
			t.Error("Allowed() = true without a verifier for an Enforce signature policy")
		}
	})
	t.Run("no verifier in Audit admits and reports", func(t *testing.T) {
		e := &engine.Engine{Rules: silent(t)}
		res := e.Evaluate(context.Background(), []*policy.Policy{signaturePolicy(t, "signed", v1alpha1.ModeAudit)}, deployment(), "prod")
		if got := ruleList(res.Violations); !slices.Equal(got, []string{"signed/signatures"}) || !res.Allowed() {
			t.Errorf("violations = %v, allowed = %v", got, res.Allowed())
		}
	})
	t.Run("skip signatures", func(t *testing.T) {
		v := &fakeSignatures{findings: []rules.Finding{{Path: "x", Message: "unsigned"}}}
		e := &engine.Engine{Rules: silent(t), SkipSignatures: true, Signatures: v}
		res := e.Evaluate(context.Background(), []*policy.Policy{signaturePolicy(t, "signed", v1alpha1.ModeEnforce)}, deployment(), "prod")
		if len(res.Violations) != 0 || !res.Allowed() {
			t.Errorf("violations = %v", res.Violations)
		}
		if len(v.asked) != 0 {
			t.Errorf("verifier asked about %v with SkipSignatures", v.asked)
		}
		if diff := cmp.Diff([]string{"signed"}, res.Matched); diff != "" {
			t.Errorf("Matched (-want +got):\n%s", diff)
		}
	})
	t.Run("verifier findings", func(t *testing.T) {
		v := &fakeSignatures{findings: []rules.Finding{
			{Path: "spec.template.spec.containers[0].image", Container: "a", Message: "no signature verified by attestor \"release\""},
			{Path: "spec.template.spec.containers[1].image", Container: "b", Message: "registry unreachable"},
		}}
		e := &engine.Engine{Rules: registry(t, perContainer("r")), Signatures: v}
		ps := []*policy.Policy{plain, signaturePolicy(t, "signed", v1alpha1.ModeWarn)}
		res := e.Evaluate(context.Background(), ps, deployment(), "prod")
		if diff := cmp.Diff([]string{"signed"}, v.asked); diff != "" {
			t.Errorf("verifier asked about (-want +got):\n%s", diff)
		}
		var got []engine.Violation
		for _, x := range res.Violations {
			if x.Policy == "signed" && x.Rule == engine.RuleSignatures {
				got = append(got, x)
			}
		}
		want := []engine.Violation{
			{Policy: "signed", Rule: "signatures", Mode: v1alpha1.ModeWarn, Path: "spec.template.spec.containers[0].image", Container: "a",
				Message: "no signature verified by attestor \"release\""},
			{Policy: "signed", Rule: "signatures", Mode: v1alpha1.ModeWarn, Path: "spec.template.spec.containers[1].image", Container: "b",
				Message: "registry unreachable"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("signature violations (-want +got):\n%s", diff)
		}
		// Signature findings follow the policy's rule findings.
		if diff := cmp.Diff([]string{"plain/r", "plain/r", "signed/r", "signed/r", "signed/signatures", "signed/signatures"}, ruleList(res.Violations)); diff != "" {
			t.Errorf("order (-want +got):\n%s", diff)
		}
		if res.Allowed() {
			t.Error("Allowed() = true with Enforce rule violations from plain")
		}
	})
	t.Run("images the deny-list denies are never verified", func(t *testing.T) {
		for _, c := range []struct {
			denied []string
			asked  bool
		}{
			{[]string{"registry.example.com/**"}, false},
			{[]string{"registry.example.com/a:1", "registry.example.com/b"}, false},
			{[]string{"registry.example.com/a"}, true}, // b still needs its signature
			{[]string{"registry.example.com/a:2"}, true},
		} {
			v := &fakeSignatures{}
			e := &engine.Engine{Rules: silent(t), Signatures: v}
			p := compile(t, "signed", v1alpha1.PolicySpec{
				Images: &v1alpha1.ImageRules{DeniedRegistries: c.denied},
				Signatures: []v1alpha1.SignatureRule{{
					Images:    []string{"registry.example.com/**"},
					Attestors: []v1alpha1.Attestor{{Name: "release", PublicKey: testPublicKey}},
				}}})
			e.Evaluate(context.Background(), []*policy.Policy{p}, deployment(), "prod")
			if asked := len(v.asked) > 0; asked != c.asked {
				t.Errorf("denied %q: verifier asked = %v, want %v", c.denied, asked, c.asked)
			}
		}
	})
	t.Run("verifier finds nothing", func(t *testing.T) {
		e := &engine.Engine{Rules: silent(t), Signatures: &fakeSignatures{}}
		res := e.Evaluate(context.Background(), []*policy.Policy{signaturePolicy(t, "signed", v1alpha1.ModeEnforce)}, deployment(), "prod")
		if len(res.Violations) != 0 || !res.Allowed() {
			t.Errorf("violations = %v", res.Violations)
		}
	})
}

func TestViolationString(t *testing.T) {
	v := engine.Violation{Policy: "p", Rule: "r", Path: "spec.containers[0].image", Message: "bad"}
	if got, want := v.String(), "spec.containers[0].image: bad [p/r]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
