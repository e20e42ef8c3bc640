package vap_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/rules/fixture"
	"github.com/sealgate/sealgate/pkg/vap"
	"github.com/sealgate/sealgate/pkg/workload"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
)

// TestFixturesAgree runs every rule fixture case through the engine and through the generated
// policy, evaluated by the VAP plugin, and compares the verdicts of each compiled rule: an exact
// rule must deny exactly when the engine's rule reports a violation, a conservative one at least
// then. A denial's message must come from its message expression, name a field path the engine's
// rule reports, and end with the policy and rule. It prints the agreement.
func TestFixturesAgree(t *testing.T) {
	files, err := fixture.LoadDir("../rules/testdata")
	if err != nil {
		t.Fatal(err)
	}
	eng := &engine.Engine{Rules: rules.Default(), SkipSignatures: true}
	var tl tally
	for _, f := range files {
		for _, c := range f.Cases {
			if len(c.ImageConfigs) > 0 {
				continue // the imageConfig rules are not compiled
			}
			p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: c.Policy})
			if err != nil {
				t.Fatalf("%s/%s: policy: %v", f.Rule, c.Name, err)
			}
			res, err := vap.Compile(p)
			if err != nil {
				t.Fatalf("%s/%s: %v", f.Rule, c.Name, err)
			}
			ns := c.Namespace
			if ns == "" {
				ns = "default"
			}
			gvk, err := c.GVK()
			if err != nil {
				t.Fatal(err)
			}
			if !p.MatchesKind(gvk) {
				// The API server never sends it to the policy: its kind is not in the rules.
				if matchesKind(res, gvk.Group, gvk.Kind) {
					t.Errorf("%s/%s: the policy does not match %s, but the VAP's resource rules do", f.Rule, c.Name, gvk.Kind)
				}
				continue
			}
			compareVerdicts(t, eng, f.Rule+"/"+c.Name, p, res, gvk, c.Object, ns, &tl)
		}
	}
	tl.report(t, "the rule fixtures")
}

// tally counts the verdicts compareVerdicts compared.
type tally struct {
	verdicts, agree, exact, exactAgree, underDenials, sameMessage, denials int
}

// report fails when nothing was compared, and prints the agreement.
func (tl *tally) report(t *testing.T, what string) {
	t.Helper()
	if tl.verdicts == 0 || tl.exact == 0 {
		t.Fatalf("no compiled verdicts compared (%d, %d exact)", tl.verdicts, tl.exact)
	}
	t.Logf("VAP vs engine on %s: %d/%d rule verdicts agree (%.1f%%); exact rules %d/%d (%.1f%%); conservative under-denials %d; "+
		"%d/%d denial messages equal the engine's", what,
		tl.agree, tl.verdicts, 100*float64(tl.agree)/float64(tl.verdicts), tl.exactAgree, tl.exact,
		100*float64(tl.exactAgree)/float64(tl.exact), tl.underDenials, tl.sameMessage, tl.denials)
}

// compareVerdicts evaluates obj (of kind gvk, in namespace ns) with the engine and with res, the
// compiled p (named "p"), and compares the verdict of each compiled rule: an exact rule must deny
// exactly when the engine's rule reports a violation, a conservative one at least then.
func compareVerdicts(t *testing.T, eng *engine.Engine, name string, p *policy.Policy, res *vap.Result, gvk schema.GroupVersionKind, obj []byte, ns string, tl *tally) {
	t.Helper()
	w, err := workload.Decode(gvk, obj)
	if err != nil {
		t.Fatalf("%s: object: %v", name, err)
	}
	var v validating.Validator
	if res.Policy != nil {
		v = newValidator(t, res.Policy)
	}
	compareDecoded(t, eng, name, p, res, v, w, apiObject(t, obj), ns, tl)
}

// compareDecoded is compareVerdicts of an object decoded twice already: w as the webhook decodes it,
// and obj as the API server holds it for CEL (typed for a built-in kind, unstructured for a custom
// one); v is res.Policy's validator, nil when nothing compiled.
func compareDecoded(t *testing.T, eng *engine.Engine, name string, p *policy.Policy, res *vap.Result, v validating.Validator,
	w *workload.Workload, obj runtime.Object, ns string, tl *tally) {
	t.Helper()
	// The engine's violations, by rule: "path: message" of each.
	found := map[string][]string{}
	for _, v := range eng.Evaluate(context.Background(), []*policy.Policy{p}, w, ns).Violations {
		v.Rules(func(rule string) {
			for _, r := range ruleAndFamily(rule) {
				found[r] = append(found[r], v.Path+": "+v.Message)
			}
		})
	}
	var decisions []validating.PolicyDecision
	if v != nil {
		decisions = validate(t, v, obj, ns)
	}
	if len(decisions) != len(res.Checks) {
		t.Fatalf("%s: %d decisions for %d validations", name, len(decisions), len(res.Checks))
	}
	denied := map[string][]string{}
	for i, d := range decisions {
		switch d.Evaluation {
		case validating.EvalError:
			t.Errorf("%s: validation %d (%s) failed: %s", name, i, res.Checks[i], rules.Truncate(d.Message, 300))
		case validating.EvalDeny:
			for _, r := range ruleAndFamily(res.Checks[i]) {
				denied[r] = append(denied[r], d.Message)
			}
		}
	}
	for _, st := range res.Rules {
		if st.State == vap.NotCompiled {
			continue
		}
		engineDenies, celDenies := len(found[st.Rule]) > 0, len(denied[st.Rule]) > 0
		tl.verdicts++
		if st.State == vap.Exact {
			tl.exact++
		}
		switch {
		case engineDenies == celDenies:
			tl.agree++
			if st.State == vap.Exact {
				tl.exactAgree++
			}
		case st.State == vap.Exact:
			t.Errorf("%s: exact rule %s: engine denies %v (%q), VAP denies %v (%q)", name, st.Rule, engineDenies, found[st.Rule], celDenies, denied[st.Rule])
		case engineDenies:
			tl.underDenials++
			t.Errorf("%s: conservative rule %s admits what the engine denies: %q", name, st.Rule, found[st.Rule])
		}
		for _, msg := range denied[st.Rule] {
			tl.denials++
			engineSays := found[st.Rule]
			if st.State != vap.Exact {
				// A conservative rule denies at paths the engine exempts (an exclusion by image).
				engineSays = nil
			}
			checkMessage(t, name, st.Rule, msg, engineSays, &tl.sameMessage)
		}
	}
}

// checkMessage holds a VAP denial's message to the webhook's form: the message expression's (not
// the static fallback), a field path the engine's rule reports when it reports one, and the
// policy and rule at the end. It counts the messages equal to one of the engine's.
func checkMessage(t *testing.T, name, rule, msg string, engine []string, same *int) {
	t.Helper()
	// A family's checks name themselves: [p/podSecurity.privileged].
	cut := strings.LastIndex(msg, " [p/")
	tail := ""
	if cut >= 0 {
		tail = msg[cut:]
	}
	if r := strings.TrimSuffix(strings.TrimPrefix(tail, " [p/"), "]"); !strings.HasSuffix(tail, "]") || !slices.Contains(ruleAndFamily(r), rule) {
		t.Errorf("%s: rule %s: message %q does not end with [p/%s] (the message expression failed?)", name, rule, msg, rule)
		return
	}
	msg = msg[:cut]
	if len(engine) == 0 {
		return // a conservative denial the engine does not make
	}
	path, _, _ := strings.Cut(msg, ": ")
	var pathKnown bool
	for _, e := range engine {
		if e == msg {
			*same++
		}
		if ep, _, _ := strings.Cut(e, ": "); ep == path {
			pathKnown = true
		}
	}
	if !pathKnown {
		t.Errorf("%s: rule %s: message %q names a path the engine does not report (%q)", name, rule, msg, engine)
	}
}

// ruleAndFamily returns the rule ID and, for a check of a family ("podSecurity.privileged"), the
// family's rule, which is the one the compiler states exact or conservative.
func ruleAndFamily(rule string) []string {
	if family, _, ok := strings.Cut(rule, "."); ok && family == "podSecurity" {
		return []string{rule, family}
	}
	return []string{rule}
}

// matchesKind reports whether the generated policy's resource rules cover the kind.
func matchesKind(res *vap.Result, group, kind string) bool {
	for _, k := range workload.Kinds {
		if k.GVK.Group != group || k.GVK.Kind != kind {
			continue
		}
		for _, r := range res.Policy.Spec.MatchConstraints.ResourceRules {
			if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, k.Resource) {
				return true
			}
		}
	}
	return false
}
