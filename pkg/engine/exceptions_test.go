package engine_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

const sealgateNS = "sealgate-system"

var now = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func exception(t *testing.T, ns, name string, spec v1alpha1.PolicyExceptionSpec) *policy.Exception {
	t.Helper()
	spec.Reason = "test"
	x, err := policy.CompileException(&v1alpha1.PolicyException{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func waives(p string, ruleIDs ...string) []v1alpha1.ExceptionPolicy {
	return []v1alpha1.ExceptionPolicy{{Name: p, Rules: ruleIDs}}
}

// podLevel reports one finding on the pod itself (no container), as hostNetwork would be.
func podLevel(id string) rules.Rule {
	return rules.Rule{ID: id, Name: id, Check: func(p *policy.Policy, t *rules.Target, out *rules.Findings) {
		out.Add(rules.Finding{Path: t.Path("hostNetwork"), Message: id + " on the pod"})
	}}
}

// family reports one finding per container under a sub-ID, as podSecurity does.
func family(id, sub string) rules.Rule {
	return rules.Rule{ID: id, Name: id, Check: func(p *policy.Policy, t *rules.Target, out *rules.Findings) {
		for _, c := range t.Containers() {
			out.Add(rules.Finding{Rule: id + "." + sub, Path: c.Path("securityContext"), Container: c.Name, Message: sub})
		}
	}}
}

func exceptionEngine(t *testing.T, xs ...*policy.Exception) *engine.Engine {
	return &engine.Engine{Rules: registry(t, perContainer("containers.privileged"), perContainer("images.allowedRegistries"),
		podLevel("containers.hostNamespaces"), family("podSecurity", "privileged")),
		Exceptions: engine.NewStaticExceptions(xs), ExceptionNamespace: sealgateNS, Now: func() time.Time { return now }}
}

// marks renders a result's violations as "rule container excepted", to compare.
func marks(res *engine.Result) []string {
	var out []string
	for _, v := range res.Violations {
		out = append(out, v.Rule+" "+v.Container+" "+v.Excepted)
	}
	return out
}

func TestExceptionsWaive(t *testing.T) {
	enforce := compile(t, "baseline", v1alpha1.PolicySpec{})
	platform := compile(t, "platform-owned", v1alpha1.PolicySpec{Exceptions: &v1alpha1.ExceptionRules{AllowedNamespaces: []string{"platform"}}})
	forbid := compile(t, "strict", v1alpha1.PolicySpec{Exceptions: &v1alpha1.ExceptionRules{Forbid: true}})
	prod := v1alpha1.ExceptionMatch{Namespaces: []string{"prod"}}
	cases := []struct {
		name   string
		policy *policy.Policy
		xs     []*policy.Exception
		want   []string
		allow  bool
	}{
		{"none", enforce, nil, []string{
			"containers.privileged a ", "containers.privileged b ", "images.allowedRegistries a ", "images.allowedRegistries b ",
			"containers.hostNamespaces  ", "podSecurity.privileged a ", "podSecurity.privileged b "}, false},
		{"every rule", enforce, []*policy.Exception{exception(t, sealgateNS, "all", v1alpha1.PolicyExceptionSpec{
			Policies: waives("baseline"), Match: prod})}, []string{
			"containers.privileged a sealgate-system/all", "containers.privileged b sealgate-system/all",
			"images.allowedRegistries a sealgate-system/all", "images.allowedRegistries b sealgate-system/all",
			"containers.hostNamespaces  sealgate-system/all",
			"podSecurity.privileged a sealgate-system/all", "podSecurity.privileged b sealgate-system/all"}, true},
		{"named rules and a family", enforce, []*policy.Exception{exception(t, sealgateNS, "some", v1alpha1.PolicyExceptionSpec{
			Policies: waives("baseline", "containers.privileged", "containers.hostNamespaces", "podSecurity"), Match: prod})}, []string{
			"containers.privileged a sealgate-system/some", "containers.privileged b sealgate-system/some",
			"images.allowedRegistries a ", "images.allowedRegistries b ",
			"containers.hostNamespaces  sealgate-system/some",
			"podSecurity.privileged a sealgate-system/some", "podSecurity.privileged b sealgate-system/some"}, false},
		{"container-scoped: that container only, never the pod", enforce, []*policy.Exception{exception(t, sealgateNS, "a", v1alpha1.PolicyExceptionSpec{
			Policies: waives("baseline"), Match: v1alpha1.ExceptionMatch{Namespaces: []string{"prod"}, Containers: []string{"a"}}})}, []string{
			"containers.privileged a sealgate-system/a", "containers.privileged b ",
			"images.allowedRegistries a sealgate-system/a", "images.allowedRegistries b ",
			"containers.hostNamespaces  ",
			"podSecurity.privileged a sealgate-system/a", "podSecurity.privileged b "}, false},
		{"image-scoped", enforce, []*policy.Exception{exception(t, sealgateNS, "img", v1alpha1.PolicyExceptionSpec{
			Policies: waives("baseline", "containers"), Match: v1alpha1.ExceptionMatch{Namespaces: []string{"prod"}, Images: []string{"registry.example.com/b"}}})}, []string{
			"containers.privileged a ", "containers.privileged b sealgate-system/img",
			"images.allowedRegistries a ", "images.allowedRegistries b ",
			"containers.hostNamespaces  ",
			"podSecurity.privileged a ", "podSecurity.privileged b "}, false},
		{"the first exception in namespace/name order names it", enforce, []*policy.Exception{
			exception(t, sealgateNS, "zz", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline"), Match: prod}),
			exception(t, sealgateNS, "aa", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline", "images"), Match: prod}),
		}, []string{
			"containers.privileged a sealgate-system/zz", "containers.privileged b sealgate-system/zz",
			"images.allowedRegistries a sealgate-system/aa", "images.allowedRegistries b sealgate-system/aa",
			"containers.hostNamespaces  sealgate-system/zz",
			"podSecurity.privileged a sealgate-system/zz", "podSecurity.privileged b sealgate-system/zz"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := exceptionEngine(t, c.xs...).Evaluate(context.Background(), []*policy.Policy{c.policy}, deployment(), "prod")
			if diff := cmp.Diff(c.want, marks(res)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
			if res.Allowed() != c.allow {
				t.Errorf("Allowed = %v, want %v", res.Allowed(), c.allow)
			}
		})
	}
	// What makes an exception not apply at all: the policy it names, where it lives, when it expires
	// and what it matches.
	ignored := []struct {
		name   string
		policy *policy.Policy
		x      *policy.Exception
	}{
		{"another policy", enforce, exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: waives("other"), Match: prod})},
		{"another rule", enforce, exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline", "resources"), Match: prod})},
		{"expired", enforce, exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline"), Match: prod,
			Expires: &metav1.Time{Time: now}})},
		{"outside sealgate's namespace", enforce, exception(t, "prod", "x", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline")})},
		{"not in allowedNamespaces, which replaces the default", platform, exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{
			Policies: waives("platform-owned"), Match: prod})},
		{"forbid", forbid, exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: waives("strict"), Match: prod})},
		{"no namespaces: its own only", enforce, exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline")})},
		{"another kind", enforce, exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline"),
			Match: v1alpha1.ExceptionMatch{Namespaces: []string{"prod"}, Kinds: []string{"Pod", "DaemonSet"}}})},
		{"another name", enforce, exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline"),
			Match: v1alpha1.ExceptionMatch{Namespaces: []string{"prod"}, Names: []string{"web-*"}}})},
		{"template labels are not the object's", enforce, exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline"),
			Match: v1alpha1.ExceptionMatch{Namespaces: []string{"prod"}, Selector: selector("team", "template")}})},
	}
	for _, c := range ignored {
		t.Run("ignored: "+c.name, func(t *testing.T) {
			res := exceptionEngine(t, c.x).Evaluate(context.Background(), []*policy.Policy{c.policy}, deployment(), "prod")
			if len(res.Excepted()) != 0 || res.Allowed() {
				t.Errorf("the exception applied: %v", marks(res))
			}
		})
	}
	// The same exceptions apply when their namespace is allowed, and when they match.
	applies := []struct {
		name   string
		policy *policy.Policy
		x      *policy.Exception
	}{
		{"in allowedNamespaces, its own objects", platform, exception(t, "platform", "x", v1alpha1.PolicyExceptionSpec{Policies: waives("platform-owned")})},
		{"kind, name glob and object labels", enforce, exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline"),
			Match: v1alpha1.ExceptionMatch{Namespaces: []string{"p*"}, Kinds: []string{"Deployment"}, Names: []string{"w?b"}, Selector: selector("team", "object")}})},
		{"not expired yet", enforce, exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline"), Match: prod,
			Expires: &metav1.Time{Time: now.Add(time.Second)}})},
	}
	for _, c := range applies {
		t.Run("applies: "+c.name, func(t *testing.T) {
			ns := "prod"
			if c.x.Namespace == "platform" {
				ns = "platform"
			}
			res := exceptionEngine(t, c.x).Evaluate(context.Background(), []*policy.Policy{c.policy}, deployment(), ns)
			if len(res.Excepted()) != len(res.Violations) || !res.Allowed() {
				t.Errorf("the exception did not apply: %v", marks(res))
			}
		})
	}
}

// Expiry is read at evaluation time: the same engine and exception stop applying once the clock
// passes spec.expires.
func TestExceptionExpiresWhileLoaded(t *testing.T) {
	p := compile(t, "baseline", v1alpha1.PolicySpec{})
	x := exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline"),
		Match: v1alpha1.ExceptionMatch{Namespaces: []string{"prod"}}, Expires: &metav1.Time{Time: now.Add(time.Minute)}})
	e := exceptionEngine(t, x)
	if res := e.Evaluate(context.Background(), []*policy.Policy{p}, deployment(), "prod"); !res.Allowed() {
		t.Fatalf("denied before expiry: %v", marks(res))
	}
	e.Now = func() time.Time { return now.Add(time.Minute) }
	if res := e.Evaluate(context.Background(), []*policy.Policy{p}, deployment(), "prod"); res.Allowed() || len(res.Excepted()) != 0 {
		t.Errorf("still excepted after expiry: %v", marks(res))
	}
}

// Waived violations never crowd out those that decide: a pod of 5,000 containers, every one but the
// last waived by a container-scoped exception, still lists the last one's violation and is denied;
// with the last one waived too, it is admitted, though the findings of each rule run past every limit.
func TestExceptionsBounded(t *testing.T) {
	const n = 5000
	w := manyContainers(n)
	w.Spec.Containers[n-1].Name = "real"
	p := compile(t, "baseline", v1alpha1.PolicySpec{})
	scoped := exception(t, sealgateNS, "sidecars", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline"),
		Match: v1alpha1.ExceptionMatch{Namespaces: []string{"prod"}, Containers: []string{"c*"}}})
	e := &engine.Engine{Rules: registry(t, perContainer("r")), Exceptions: engine.NewStaticExceptions([]*policy.Exception{scoped}),
		ExceptionNamespace: sealgateNS, Now: func() time.Time { return now }}
	res := e.Evaluate(context.Background(), []*policy.Policy{p}, w, "prod")
	if res.Allowed() {
		t.Errorf("admitted: the one container no exception covers was lost among the waived")
	}
	if got := res.ByMode(v1alpha1.ModeEnforce); len(got) != 1 || got[0].Container != "real" {
		t.Errorf("Enforce violations listed = %v, want the one of container \"real\"", got)
	}
	if got := len(res.Excepted()); got != engine.MaxViolationsPerRule {
		t.Errorf("%d waived violations listed, want %d", got, engine.MaxViolationsPerRule)
	}
	if got, want := res.ExceptedOmitted(), n-1-engine.MaxViolationsPerRule; got != want {
		t.Errorf("ExceptedOmitted = %d, want %d", got, want)
	}
	if got := res.OmittedCount(v1alpha1.ModeEnforce); got != 0 {
		t.Errorf("OmittedCount(Enforce) = %d, want 0: every omitted violation is waived", got)
	}

	// Unscoped: the collector keeps its limit, and what it only counts is waived by rule.
	whole := exception(t, sealgateNS, "whole", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline"),
		Match: v1alpha1.ExceptionMatch{Namespaces: []string{"prod"}}})
	e.Exceptions = engine.NewStaticExceptions([]*policy.Exception{whole})
	res = e.Evaluate(context.Background(), []*policy.Policy{p}, w, "prod")
	if !res.Allowed() || res.ExceptedOmitted() != n-engine.MaxViolationsPerRule || res.OmittedCount(v1alpha1.ModeEnforce) != 0 {
		t.Errorf("Allowed = %v, ExceptedOmitted = %d, OmittedCount(Enforce) = %d", res.Allowed(), res.ExceptedOmitted(), res.OmittedCount(v1alpha1.ModeEnforce))
	}
}

// Waived violations have their own MaxViolationsPerMode: many rules waived in full leave room for
// every violation that decides.
func TestExceptionsDoNotCrowdOutAMode(t *testing.T) {
	var rs []rules.Rule
	for i := range 10 {
		rs = append(rs, perContainer("waived."+strconv.Itoa(i)))
	}
	rs = append(rs, perContainer("real"))
	p := compile(t, "baseline", v1alpha1.PolicySpec{})
	x := exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline", "waived"),
		Match: v1alpha1.ExceptionMatch{Namespaces: []string{"prod"}}})
	e := &engine.Engine{Rules: registry(t, rs...), Exceptions: engine.NewStaticExceptions([]*policy.Exception{x}),
		ExceptionNamespace: sealgateNS, Now: func() time.Time { return now }}
	w := manyContainers(20)
	res := e.Evaluate(context.Background(), []*policy.Policy{p}, w, "prod")
	if got := len(res.ByMode(v1alpha1.ModeEnforce)); got != 20 {
		t.Errorf("%d Enforce violations listed, want 20 (200 waived ones came first)", got)
	}
	if got := len(res.Excepted()); got != engine.MaxViolationsPerMode {
		t.Errorf("%d waived violations listed, want %d", got, engine.MaxViolationsPerMode)
	}
	if got := res.ExceptedOmitted(); got != 200-engine.MaxViolationsPerMode {
		t.Errorf("ExceptedOmitted = %d", got)
	}
}

// Pods without an image that parses match no image pattern.
func TestExceptionImageUnparsed(t *testing.T) {
	w := deployment()
	w.Spec.Containers[1].Image = "Registry.Example.com/B:1"
	p := compile(t, "baseline", v1alpha1.PolicySpec{})
	x := exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline"),
		Match: v1alpha1.ExceptionMatch{Namespaces: []string{"prod"}, Images: []string{"registry.example.com/**"}}})
	e := &engine.Engine{Rules: registry(t, perContainer("r")), Exceptions: engine.NewStaticExceptions([]*policy.Exception{x}),
		ExceptionNamespace: sealgateNS, Now: func() time.Time { return now }}
	res := e.Evaluate(context.Background(), []*policy.Policy{p}, w, "prod")
	if diff := cmp.Diff([]string{"r a sealgate-system/x", "r b "}, marks(res)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

func TestViolationStringExcepted(t *testing.T) {
	v := engine.Violation{Policy: "p", Rule: "r", Path: "spec.hostNetwork", Message: "m", Excepted: "sealgate-system/cni"}
	if got, want := v.String(), "spec.hostNetwork: m [p/r] (excepted by sealgate-system/cni)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestUnknownRules(t *testing.T) {
	x := exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: []v1alpha1.ExceptionPolicy{
		{Name: "a", Rules: []string{"containers.privileged", "containers", "podSecurity", "podSecurity.hostPorts", "signatures", "match"}},
		{Name: "b", Rules: []string{"containers.privilegd", "podsecurity", "images.allowedRegistries.x"}},
	}})
	errs := engine.UnknownRules(rules.Default(), x)
	var got []string
	for _, e := range errs {
		got = append(got, e.Field)
	}
	if diff := cmp.Diff([]string{"spec.policies[1].rules[0]", "spec.policies[1].rules[1]", "spec.policies[1].rules[2]"}, got); diff != "" {
		t.Errorf("unknown rules (-want +got):\n%s\n%v", diff, errs)
	}
	if len(errs) > 0 && !strings.Contains(errs[0].Detail, "containers.privileged") {
		t.Errorf("the error does not list the known rules: %s", errs[0].Detail)
	}
	if err := engine.ValidateExceptions(rules.Default(), []*policy.Exception{x}); err == nil ||
		!strings.Contains(err.Error(), `exception "sealgate-system/x" is invalid:`) {
		t.Errorf("ValidateExceptions = %v", err)
	}
}

// Rules that flag one field merge into one violation only when the same exception waives them all,
// or none does: a waived finding never hides one that decides.
func TestExceptionsAndSameField(t *testing.T) {
	p := compile(t, "baseline", v1alpha1.PolicySpec{})
	run := func(ruleIDs ...string) []string {
		x := exception(t, sealgateNS, "x", v1alpha1.PolicyExceptionSpec{Policies: waives("baseline", ruleIDs...),
			Match: v1alpha1.ExceptionMatch{Namespaces: []string{"prod"}, Containers: []string{"a"}}})
		e := &engine.Engine{Rules: registry(t, sameField("containers.x", "securityContext"), sameField("podSecurity.x", "securityContext")),
			Exceptions: engine.NewStaticExceptions([]*policy.Exception{x}), ExceptionNamespace: sealgateNS, Now: func() time.Time { return now }}
		var out []string
		for _, v := range e.Evaluate(context.Background(), []*policy.Policy{p}, deployment(), "prod").Violations {
			out = append(out, v.Container+" "+v.RuleList()+" "+v.Excepted)
		}
		return out
	}
	if diff := cmp.Diff([]string{
		"a containers.x ", "b containers.x, podSecurity.x ", "a podSecurity.x sealgate-system/x",
	}, run("podSecurity")); diff != "" {
		t.Errorf("one rule waived (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{
		"a containers.x, podSecurity.x sealgate-system/x", "b containers.x, podSecurity.x ",
	}, run("containers", "podSecurity")); diff != "" {
		t.Errorf("both rules waived (-want +got):\n%s", diff)
	}
}
