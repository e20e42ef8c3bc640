package webhookconfig_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	sgadmission "github.com/sealgate/sealgate/pkg/admission"
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/rules/fixture"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/pkg/workload"
)

// TestSkippedRequestsAreNeverActedOn is the differential proof of the generated matchConditions:
// over the rule fixtures and the examples, each under variants of its policy (modes, namespace
// exclusions, kinds, object selectors, namespace selectors, several policies, none) and each object
// under variants of its request (CREATE here and elsewhere, UPDATEs that change nothing, labels,
// annotations or the pod spec, pod subresources), every request the conditions skip, evaluated by
// the API server's own matcher, must be one the webhook allows with no warning, no audit annotation
// and no violation counted in any mode: a skipped request loses nothing. It prints the counts.
func TestSkippedRequestsAreNeverActedOn(t *testing.T) {
	var (
		total, skipped, actedOn int
		byCondition             = map[string]int{}
	)
	check := func(name string, pv policyVariant, r apiRequest) {
		var ps []*policy.Policy
		for i, s := range pv.specs {
			p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p" + string(rune('a'+i))}, Spec: s})
			if err != nil {
				t.Fatalf("%s: policy: %v", name, err)
			}
			if i < pv.delegated {
				// Its synced VAP enforces every rule exactly: the webhook skips them all.
				p.SkipRules = map[string]bool{}
				for _, rule := range rules.Default().Rules() {
					if rules.Enables(p, &rule) {
						p.SkipRules[rule.ID] = true
					}
				}
			}
			ps = append(ps, p)
		}
		conds := webhookconfig.MatchConditions(ps, workload.BuiltinCustomKinds)
		r.name = name + " / " + r.name
		called, by := match(t, newMatcher(t, conds), r)
		rec := &countingRecorder{}
		h := &sgadmission.Handler{Engine: &engine.Engine{Rules: rules.Default(), Namespaces: prodNamespaces{}, SkipVAPRules: true},
			Policies: sgadmission.StaticPolicies(ps), Metrics: rec}
		if err := h.Defaults(); err != nil {
			t.Fatal(err)
		}
		resp, decision := h.Review(context.Background(), review(t, r))
		acted := !resp.Allowed || len(resp.Warnings) > 0 || len(resp.AuditAnnotations) > 0 || rec.violations > 0
		total++
		if acted {
			actedOn++
		}
		if called {
			return
		}
		skipped++
		byCondition[by]++
		if acted {
			t.Errorf("%s: condition %s skips a request the webhook acts on (%s, allowed %v, warnings %q, audit %v, violations %d)\nconditions: %v",
				r.name, by, decision, resp.Allowed, resp.Warnings, resp.AuditAnnotations, rec.violations, conds)
		}
	}

	for i, c := range corpus(t) {
		for _, pv := range policyVariants(c, i) {
			for _, r := range requestVariants(t, c) {
				check(c.name+" / "+pv.name, pv, r)
			}
		}
	}
	t.Logf("%d requests: %d skipped by the conditions (%v), none of them acted on; %d acted on, all sent to the webhook",
		total, skipped, byCondition, actedOn)
	// The proof means something only if every condition skips some requests and some requests are
	// acted on: without the conditions, or with one that never says no, this fails.
	for _, name := range []string{webhookconfig.NoPolicyCondition, webhookconfig.PolicyMatchCondition, webhookconfig.PodChangedCondition} {
		if byCondition[name] == 0 {
			t.Errorf("condition %s skipped no request", name)
		}
	}
	if actedOn == 0 {
		t.Error("no request was acted on: the corpus proves nothing")
	}
}

// countingRecorder counts the violations the handler records, in every mode.
type countingRecorder struct{ violations int }

func (r *countingRecorder) Violation(_, _, _, _ string, n int) { r.violations += n }
func (r *countingRecorder) Decision(string, time.Duration)     {}

// prodNamespaces labels every namespace env=prod, so that the examples' namespaceSelectors match:
// the conditions cannot see namespace labels and must call the webhook for them.
type prodNamespaces struct{}

func (prodNamespaces) Labels(_ context.Context, name string) (map[string]string, error) {
	return map[string]string{"env": "prod", "kubernetes.io/metadata.name": name}, nil
}

// corpusCase is a policy spec and an object in a namespace.
type corpusCase struct {
	name      string
	policy    v1alpha1.PolicySpec
	namespace string
	object    map[string]any
	gvk       schema.GroupVersionKind
	example   bool
}

// corpus is every rule fixture case and every example workload under every example policy.
func corpus(t *testing.T) []corpusCase {
	t.Helper()
	files, err := fixture.LoadDir(filepath.Join("..", "rules", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	var out []corpusCase
	for _, f := range files {
		for _, c := range f.Cases {
			gvk, err := c.GVK()
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := json.Unmarshal(c.Object, &obj); err != nil {
				t.Fatal(err)
			}
			ns := c.Namespace
			if ns == "" {
				ns = "default"
			}
			out = append(out, corpusCase{name: f.Rule + "/" + c.Name, policy: c.Policy, namespace: ns, object: obj, gvk: gvk})
		}
	}
	examples, err := filepath.Glob(filepath.Join("..", "..", "examples", "policies", "*.yaml"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no example policies: %v", err)
	}
	ps, err := policy.LoadPaths(examples, nil)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, customKindCases()...)
	for _, obj := range exampleWorkloads(t) {
		gvk := schema.FromAPIVersionAndKind(obj["apiVersion"].(string), obj["kind"].(string))
		if _, ok := workload.Lookup(gvk); !ok {
			continue // the Namespaces
		}
		meta := obj["metadata"].(map[string]any)
		ns, _ := meta["namespace"].(string)
		for _, p := range ps {
			out = append(out, corpusCase{name: "examples/" + p.Name + "/" + meta["name"].(string), policy: p.Source.Spec,
				namespace: ns, object: obj, gvk: gvk, example: true})
		}
	}
	return out
}

// customKindCases are a privileged pod in each built-in custom kind, which the API server holds
// unstructured, under a policy that forbids it.
func customKindCases() []corpusCase {
	var out []corpusCase
	for _, k := range workload.BuiltinCustomKinds {
		obj := map[string]any{"apiVersion": k.GVK.GroupVersion().String(), "kind": k.GVK.Kind,
			"metadata": map[string]any{"name": "x", "namespace": "apps"}}
		set(obj, k.SpecPath+".containers", []any{map[string]any{"name": "app", "image": "nginx:1",
			"securityContext": map[string]any{"privileged": true}}})
		if k.MetaPath != "" && k.MetaPath != "metadata" {
			set(obj, k.MetaPath+".labels.app", "x")
		}
		out = append(out, corpusCase{name: "custom/" + k.GVK.Kind, namespace: "apps", object: obj, gvk: k.GVK, example: true,
			policy: v1alpha1.PolicySpec{Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden}}})
	}
	return out
}

func exampleWorkloads(t *testing.T) []map[string]any {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "examples", "workloads", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if obj != nil {
				out = append(out, obj)
			}
		}
	}
	return out
}

type policyVariant struct {
	name  string
	specs []v1alpha1.PolicySpec
	// delegated is how many of specs, from the first, have every rule left to a synced VAP.
	delegated int
}

// policyVariants are the case's policy as written, in each mode and none, and as narrowed or widened
// by each match field: the examples get every variant, fixture case i (there are hundreds) three of
// them in turn, so that every variant meets every rule's objects and the test stays short.
func policyVariants(c corpusCase, i int) []policyVariant {
	with := func(f func(s *v1alpha1.PolicySpec)) v1alpha1.PolicySpec {
		s := *c.policy.DeepCopy()
		f(&s)
		return s
	}
	other := "Deployment"
	if c.gvk.Kind == "Deployment" {
		other = "Pod"
	}
	own := c.gvk.Kind
	if c.gvk.Group != "" {
		own = c.gvk.Group + "/" + c.gvk.Kind
	}
	sel := func(s *metav1.LabelSelector) func(*v1alpha1.PolicySpec) {
		return func(p *v1alpha1.PolicySpec) { p.Match.ObjectSelector = s }
	}
	excluded := with(func(s *v1alpha1.PolicySpec) { s.Match.ExcludeNamespaces = []string{c.namespace, "kube-system"} })
	otherKind := with(func(s *v1alpha1.PolicySpec) { s.Match.Kinds = []string{other} })
	always := []policyVariant{
		{name: "as written", specs: []v1alpha1.PolicySpec{c.policy}},
		{name: "Warn", specs: []v1alpha1.PolicySpec{with(func(s *v1alpha1.PolicySpec) { s.Mode = v1alpha1.ModeWarn })}},
		{name: "Audit", specs: []v1alpha1.PolicySpec{with(func(s *v1alpha1.PolicySpec) { s.Mode = v1alpha1.ModeAudit })}},
		{name: "no policy"},
		{name: "left to its VAP", specs: []v1alpha1.PolicySpec{c.policy}, delegated: 1},
		{name: "one left to its VAP, one not", specs: []v1alpha1.PolicySpec{c.policy, with(func(s *v1alpha1.PolicySpec) { s.Mode = v1alpha1.ModeWarn })}, delegated: 1},
	}
	narrowed := []policyVariant{
		{name: "excluding its namespace", specs: []v1alpha1.PolicySpec{excluded}},
		{name: "Warn, excluding its namespace", specs: []v1alpha1.PolicySpec{with(func(s *v1alpha1.PolicySpec) {
			s.Mode, s.Match.ExcludeNamespaces = v1alpha1.ModeWarn, []string{c.namespace}
		})}},
		{name: "for another kind", specs: []v1alpha1.PolicySpec{otherKind}},
		{name: "for its kind", specs: []v1alpha1.PolicySpec{with(func(s *v1alpha1.PolicySpec) { s.Match.Kinds = []string{own, other} })}},
		{name: "namespace selector", specs: []v1alpha1.PolicySpec{with(func(s *v1alpha1.PolicySpec) {
			s.Match.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
			s.Match.ExcludeNamespaces = []string{"elsewhere"}
		})}},
		{name: "selecting tier=web", specs: []v1alpha1.PolicySpec{with(sel(&metav1.LabelSelector{MatchLabels: map[string]string{"tier": "web"}}))}},
		{name: "selecting tier in (web, db)", specs: []v1alpha1.PolicySpec{with(sel(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"web", "db"}}}}))}},
		{name: "selecting tier notin (web)", specs: []v1alpha1.PolicySpec{with(sel(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"web"}}}}))}},
		{name: "selecting !tier", specs: []v1alpha1.PolicySpec{with(sel(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpDoesNotExist}}}))}},
		{name: "selecting tier", specs: []v1alpha1.PolicySpec{with(sel(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpExists}}}))}},
		{name: "two narrowed policies", specs: []v1alpha1.PolicySpec{excluded, otherKind}},
		{name: "one narrowed, one not", specs: []v1alpha1.PolicySpec{excluded, c.policy}},
	}
	if _, core := workload.Lookup(c.gvk); !core {
		// spec.match.kinds names core kinds only: a custom kind is never "its kind".
		narrowed = slices.DeleteFunc(narrowed, func(v policyVariant) bool { return v.name == "for its kind" })
	}
	if c.example {
		return append(always, narrowed...)
	}
	for j := range 3 {
		always = append(always, narrowed[(3*i+j)%len(narrowed)])
	}
	return always
}

// requestVariants are the requests the API server may send for the case's object.
func requestVariants(t *testing.T, c corpusCase) []apiRequest {
	t.Helper()
	enc := func(o map[string]any) []byte {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	obj := enc(c.object)
	k, ok := workload.Lookup(c.gvk)
	if !ok {
		ck, _ := workload.NewCustomKinds().Lookup(c.gvk)
		k.SpecPath, k.MetaPath = ck.SpecPath, ck.MetaPath
	}
	mutate := func(f func(o map[string]any)) []byte {
		var o map[string]any
		if err := json.Unmarshal(obj, &o); err != nil {
			t.Fatal(err)
		}
		f(o)
		return enc(o)
	}
	labelled := func(value string) func(map[string]any) {
		return func(o map[string]any) { set(o, "metadata.labels.tier", value) }
	}
	r := func(name, ns string, op admissionv1.Operation, sub string, obj, old []byte) apiRequest {
		return apiRequest{name: name, gvk: c.gvk, resource: resourceOf(c.gvk), subresource: sub, namespace: ns, op: op, obj: obj, old: old}
	}
	web := mutate(labelled("web"))
	out := []apiRequest{
		r("create", c.namespace, admissionv1.Create, "", obj, nil),
		r("create labelled tier=web", c.namespace, admissionv1.Create, "", web, nil),
		r("create labelled tier=db", c.namespace, admissionv1.Create, "", mutate(labelled("db")), nil),
		r("create elsewhere", "elsewhere", admissionv1.Create, "", obj, nil),
		r("create in kube-system", "kube-system", admissionv1.Create, "", obj, nil),
		r("update changing nothing", c.namespace, admissionv1.Update, "", obj, obj),
		r("update adding label tier=web", c.namespace, admissionv1.Update, "", web, obj),
		r("update removing label tier=web", c.namespace, admissionv1.Update, "", obj, web),
		r("update changing an object annotation", c.namespace, admissionv1.Update, "", obj,
			mutate(func(o map[string]any) { set(o, "metadata.annotations.example\\.com/rev", "1") })),
		r("update changing a pod annotation", c.namespace, admissionv1.Update, "", obj,
			mutate(func(o map[string]any) { set(o, k.MetaPath+".annotations.example\\.com/rev", "1") })),
		r("update from an older image", c.namespace, admissionv1.Update, "", obj,
			mutate(func(o map[string]any) { setFirstImage(o, k.SpecPath, "registry.example.com/old@sha256:"+sha) })),
		r("update from a pod spec without securityContext", c.namespace, admissionv1.Update, "", obj,
			mutate(func(o map[string]any) { deletePath(o, k.SpecPath+".securityContext") })),
		r("update to a new image", c.namespace, admissionv1.Update, "",
			mutate(func(o map[string]any) { setFirstImage(o, k.SpecPath, "nginx:latest") }), obj),
	}
	if c.gvk.Kind == "Pod" {
		out = append(out,
			r("ephemeralcontainers changing nothing", c.namespace, admissionv1.Update, "ephemeralcontainers", obj, obj),
			r("ephemeralcontainers adding one", c.namespace, admissionv1.Update, "ephemeralcontainers", obj,
				mutate(func(o map[string]any) { deletePath(o, "spec.ephemeralContainers") })),
			r("resize changing nothing", c.namespace, admissionv1.Update, "resize", obj, obj),
			r("status", c.namespace, admissionv1.Update, "status", obj, obj),
		)
	}
	return out
}

const sha = "0000000000000000000000000000000000000000000000000000000000000000"

// set writes value at a dotted path ("\." escapes a dot), creating maps on the way.
func set(o map[string]any, path string, value any) {
	fields := splitPath(path)
	for _, f := range fields[:len(fields)-1] {
		next, ok := o[f].(map[string]any)
		if !ok {
			next = map[string]any{}
			o[f] = next
		}
		o = next
	}
	o[fields[len(fields)-1]] = value
}

func deletePath(o map[string]any, path string) {
	fields := splitPath(path)
	for _, f := range fields[:len(fields)-1] {
		next, ok := o[f].(map[string]any)
		if !ok {
			return
		}
		o = next
	}
	delete(o, fields[len(fields)-1])
}

func setFirstImage(o map[string]any, specPath, image string) {
	for _, f := range splitPath(specPath) {
		next, ok := o[f].(map[string]any)
		if !ok {
			return
		}
		o = next
	}
	if cs, ok := o["containers"].([]any); ok && len(cs) > 0 {
		if c, ok := cs[0].(map[string]any); ok {
			c["image"] = image
		}
	}
}

func splitPath(path string) []string {
	var out []string
	cur := ""
	for i := 0; i < len(path); i++ {
		switch {
		case path[i] == '\\' && i+1 < len(path):
			i++
			cur += string(path[i])
		case path[i] == '.':
			out = append(out, cur)
			cur = ""
		default:
			cur += string(path[i])
		}
	}
	return append(out, cur)
}
