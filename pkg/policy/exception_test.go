package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/imageref"
	"github.com/sealgate/sealgate/pkg/policy"
)

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		glob, name string
		want       bool
	}{
		{"cilium", "cilium", true},
		{"cilium", "cilium-agent", false},
		{"cilium*", "cilium", true},
		{"cilium-*", "cilium-agent-x7k2p", true},
		{"cilium-*", "cilium", false},
		{"*-agent", "cilium-agent", true},
		{"*-agent", "cilium-agent-1", false},
		{"a*b*c", "abbbc", true},
		{"a*b*c", "acb", false},
		{"team-?", "team-a", true},
		{"team-?", "team-ab", false},
		{"*", "", true},
		{"?", "", false},
		{"**", "anything", true},
		{"", "", true},
		{"", "x", false},
		{"PUBLIC_*", "public_key", false},
		{"A*B*C", "AxxCxxB", false},
		{"A*", "", false},
	} {
		if got := policy.Glob(c.glob).Match(c.name); got != c.want {
			t.Errorf("Glob(%q).Match(%q) = %v, want %v", c.glob, c.name, got, c.want)
		}
	}
}

func compileException(t *testing.T, ns string, spec v1alpha1.PolicyExceptionSpec) *policy.Exception {
	t.Helper()
	if spec.Reason == "" {
		spec.Reason = "test"
	}
	if spec.Policies == nil {
		spec.Policies = []v1alpha1.ExceptionPolicy{{Name: "baseline"}}
	}
	x, err := policy.CompileException(&v1alpha1.PolicyException{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns}, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestExceptionWaives(t *testing.T) {
	x := compileException(t, "sealgate-system", v1alpha1.PolicyExceptionSpec{Policies: []v1alpha1.ExceptionPolicy{
		{Name: "baseline", Rules: []string{"podSecurity", "containers.privileged"}},
		{Name: "production"},
	}})
	for _, c := range []struct {
		policy, rule string
		want         bool
	}{
		{"baseline", "podSecurity", true},
		{"baseline", "podSecurity.privileged", true},
		{"baseline", "podSecurityX", false},
		{"baseline", "containers.privileged", true},
		{"baseline", "containers.privilegedX", false},
		{"baseline", "containers.runAsRoot", false},
		{"baseline", "containers", false},
		{"production", "images.allowedRegistries", true},
		{"production", "signatures", true},
		{"other", "podSecurity", false},
	} {
		if got := x.Waives(c.policy, c.rule); got != c.want {
			t.Errorf("Waives(%q, %q) = %v, want %v", c.policy, c.rule, got, c.want)
		}
	}
}

func TestExceptionCoversObject(t *testing.T) {
	const sg = "sealgate-system"
	central := compileException(t, sg, v1alpha1.PolicyExceptionSpec{Match: v1alpha1.ExceptionMatch{
		Namespaces: []string{"kube-system", "team-*"}, Kinds: []string{"DaemonSet", "Pod"}, Names: []string{"cilium", "cilium-*"},
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cilium"}}}})
	cilium := map[string]string{"app": "cilium"}
	own := compileException(t, sg, v1alpha1.PolicyExceptionSpec{})
	team := compileException(t, "team-a", v1alpha1.PolicyExceptionSpec{Match: v1alpha1.ExceptionMatch{Namespaces: []string{"*"}}})
	for _, c := range []struct {
		name                 string
		x                    *policy.Exception
		kind, namespace, obj string
		labels               map[string]string
		want                 bool
	}{
		{"all match", central, "DaemonSet", "kube-system", "cilium", cilium, true},
		{"pod by glob", central, "Pod", "team-a", "cilium-x7k2p", cilium, true},
		{"other namespace", central, "DaemonSet", "default", "cilium", cilium, false},
		{"other kind", central, "Deployment", "kube-system", "cilium", cilium, false},
		{"other name", central, "DaemonSet", "kube-system", "calico", cilium, false},
		{"labels missing", central, "DaemonSet", "kube-system", "cilium", nil, false},
		{"empty namespaces: own namespace", own, "Pod", sg, "p", nil, true},
		{"empty namespaces: not another", own, "Pod", "default", "p", nil, false},
		{"outside sealgate's namespace: its own", team, "Pod", "team-a", "p", nil, true},
		{"outside sealgate's namespace: never another, whatever it lists", team, "Pod", "team-b", "p", nil, false},
	} {
		if got := c.x.CoversObject(c.kind, c.namespace, c.obj, c.labels, sg); got != c.want {
			t.Errorf("%s: CoversObject = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestExceptionCoversContainer(t *testing.T) {
	ref := func(s string) *imageref.Reference {
		r, err := imageref.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return &r
	}
	unscoped := compileException(t, "sealgate-system", v1alpha1.PolicyExceptionSpec{})
	byName := compileException(t, "sealgate-system", v1alpha1.PolicyExceptionSpec{Match: v1alpha1.ExceptionMatch{Containers: []string{"agent", "init-*"}}})
	byImage := compileException(t, "sealgate-system", v1alpha1.PolicyExceptionSpec{Match: v1alpha1.ExceptionMatch{Images: []string{"quay.io/cilium/*"}}})
	both := compileException(t, "sealgate-system", v1alpha1.PolicyExceptionSpec{Match: v1alpha1.ExceptionMatch{
		Containers: []string{"agent"}, Images: []string{"quay.io/cilium/*"}}})
	if unscoped.ContainerScoped() || !byName.ContainerScoped() || !byImage.ContainerScoped() {
		t.Errorf("ContainerScoped: %v %v %v", unscoped.ContainerScoped(), byName.ContainerScoped(), byImage.ContainerScoped())
	}
	for _, c := range []struct {
		name      string
		x         *policy.Exception
		container string
		image     *imageref.Reference
		want      bool
	}{
		{"no patterns", unscoped, "app", ref("nginx"), true},
		{"name", byName, "agent", ref("nginx"), true},
		{"name glob", byName, "init-config", nil, true},
		{"other name", byName, "app", ref("nginx"), false},
		{"image", byImage, "anything", ref("quay.io/cilium/cilium:v1.16"), true},
		{"image on another registry", byImage, "anything", ref("quay.io.evil.com/cilium/cilium:v1.16"), false},
		{"image unparsed", byImage, "anything", nil, false},
		{"both", both, "agent", ref("quay.io/cilium/cilium@sha256:" + strings.Repeat("a", 64)), true},
		{"both, other image", both, "agent", ref("docker.io/cilium/cilium"), false},
	} {
		if got := c.x.CoversContainer(c.container, c.image); got != c.want {
			t.Errorf("%s: CoversContainer = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestExceptionExpired(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	x := compileException(t, "sealgate-system", v1alpha1.PolicyExceptionSpec{Expires: &metav1.Time{Time: at}})
	if x.Expired(at.Add(-time.Second)) || !x.Expired(at) || !x.Expired(at.Add(time.Hour)) {
		t.Errorf("Expired around %s: %v %v %v", at, x.Expired(at.Add(-time.Second)), x.Expired(at), x.Expired(at.Add(time.Hour)))
	}
	never := compileException(t, "sealgate-system", v1alpha1.PolicyExceptionSpec{})
	if never.Expired(at.AddDate(100, 0, 0)) {
		t.Errorf("an exception without expires expired")
	}
}

func TestAcceptsExceptionsFrom(t *testing.T) {
	compile := func(x *v1alpha1.ExceptionRules) *policy.Policy {
		p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"},
			Spec: v1alpha1.PolicySpec{Exceptions: x}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	const sg = "sealgate-system"
	for _, c := range []struct {
		name      string
		rules     *v1alpha1.ExceptionRules
		namespace string
		want      bool
		why       string
	}{
		{"default: sealgate's namespace", nil, sg, true, ""},
		{"default: not another", nil, "team-a", false, `only from sealgate's namespace "sealgate-system" (spec.exceptions.allowedNamespaces is unset)`},
		{"allowed", &v1alpha1.ExceptionRules{AllowedNamespaces: []string{"platform"}}, "platform", true, ""},
		{"allowed replaces the default", &v1alpha1.ExceptionRules{AllowedNamespaces: []string{"platform"}}, sg, false,
			`accepts exceptions only from namespaces "platform" (spec.exceptions.allowedNamespaces)`},
		{"forbid", &v1alpha1.ExceptionRules{Forbid: true}, sg, false, `policy "p" forbids exceptions (spec.exceptions.forbid)`},
	} {
		ok, why := compile(c.rules).AcceptsExceptionsFrom(c.namespace, sg)
		if ok != c.want || !strings.Contains(why, c.why) || (c.why == "") != (why == "") {
			t.Errorf("%s: AcceptsExceptionsFrom = %v %q, want %v containing %q", c.name, ok, why, c.want, c.why)
		}
	}
}

func TestLoadPathsWithExceptions(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "all.yaml")
	writeFile(t, file, `apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata: {name: baseline}
spec: {podSecurity: {level: baseline}}
---
apiVersion: sealgate.dev/v1alpha1
kind: PolicyException
metadata: {name: cilium}
spec:
  reason: the CNI agent needs the host network
  policies: [{name: baseline, rules: [podSecurity.hostNamespaces]}]
  match: {namespaces: [kube-system], kinds: [DaemonSet, Pod], names: ["cilium*"]}
`)
	ps, xs, err := policy.LoadPathsWithExceptions([]string{file}, nil, "sealgate-system")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || len(xs) != 1 || xs[0].ID() != "sealgate-system/cilium" {
		t.Fatalf("loaded %d policies and %v", len(ps), xs)
	}
	if _, err := policy.LoadPaths([]string{file}, nil); err == nil {
		t.Errorf("LoadPaths accepted a PolicyException: only LoadPathsWithExceptions reads them")
	}
}

// An invalid exception file reports every problem at once, each with its document and field path,
// unknown fields first.
func TestLoadExceptionsInvalid(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.yaml")
	writeFile(t, file, `apiVersion: sealgate.dev/v1alpha1
kind: PolicyException
metadata: {name: one, namespace: platform}
spec:
  reason: ""
  policies: [{name: baseline, rules: ["pod security"]}]
  match: {kind: [Pod], images: ["quay.io/cilium/agent:v*"]}
---
apiVersion: sealgate.dev/v1alpha1
kind: PolicyException
metadata: {name: two, namespace: platform}
spec: {reason: r, policies: [{name: baseline}]}
---
apiVersion: sealgate.dev/v1alpha1
kind: PolicyException
metadata: {name: two, namespace: platform}
spec: {reason: r, policies: [{name: baseline}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
`)
	_, err := policy.LoadExceptionPaths([]string{file}, nil, "sealgate-system")
	if err == nil {
		t.Fatal("loaded an invalid file")
	}
	var inv *policy.InvalidExceptionError
	if !errors.As(err, &inv) || inv.Name != "one" {
		t.Errorf("error is not an InvalidExceptionError for %q: %v", "one", err)
	}
	for _, want := range []string{
		`document 1`, `exception "platform/one" is invalid:`, `unknown field "spec.match.kind"`,
		`spec.reason: Required value`, `spec.policies[0].rules[0]: Invalid value: "pod security"`,
		`spec.match.images[0]: Invalid value: "quay.io/cilium/agent:v*"`,
		`document 3`, `exception "platform/two" is also defined at`,
		`document 4`, `expected sealgate.dev/v1alpha1 PolicyException, found v1 ConfigMap`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if i, j := strings.Index(err.Error(), "unknown field"), strings.Index(err.Error(), "spec.reason"); i > j {
		t.Errorf("unknown fields are not listed first:\n%v", err)
	}
}

func TestExceptionSetOrder(t *testing.T) {
	mk := func(ns, name, p string) *policy.Exception {
		x, err := policy.CompileException(&v1alpha1.PolicyException{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.PolicyExceptionSpec{Reason: "r", Policies: []v1alpha1.ExceptionPolicy{{Name: p}}}})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	s := policy.NewExceptionSet([]*policy.Exception{mk("b", "x", "p"), mk("a", "y", "q"), mk("a", "x", "p")})
	var got []string
	for _, x := range s.For("p") {
		got = append(got, x.ID())
	}
	if strings.Join(got, ",") != "a/x,b/x" || len(s.All()) != 3 || s.For("none") != nil {
		t.Errorf("For(p) = %v, All = %d", got, len(s.All()))
	}
	var empty *policy.ExceptionSet
	if empty.For("p") != nil || empty.All() != nil {
		t.Errorf("a nil set is not empty")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
