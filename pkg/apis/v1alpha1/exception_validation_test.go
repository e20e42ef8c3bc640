package v1alpha1

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func exceptionWith(spec PolicyExceptionSpec) *PolicyException {
	return &PolicyException{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "sealgate-system"}, Spec: spec}
}

func validException() PolicyExceptionSpec {
	return PolicyExceptionSpec{Reason: "the CNI agent needs the host network",
		Policies: []ExceptionPolicy{{Name: "baseline", Rules: []string{"podSecurity", "containers.privileged"}}}}
}

func TestValidateExceptionValid(t *testing.T) {
	everything := validException()
	everything.Expires = &metav1.Time{}
	everything.Policies = append(everything.Policies, ExceptionPolicy{Name: "production"})
	everything.Match = ExceptionMatch{
		Namespaces: []string{"kube-system", "team-*", "ns-?"},
		Kinds:      []string{"DaemonSet", "Pod", "CronJob"},
		Names:      []string{"cilium", "cilium-*", "a.b"},
		Selector:   &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "cilium"}},
		Containers: []string{"agent", "init-*"},
		Images:     []string{"quay.io/cilium/*", "registry.example.com/**"},
	}
	for name, x := range map[string]*PolicyException{
		"minimal":    exceptionWith(validException()),
		"everything": exceptionWith(everything),
	} {
		t.Run(name, func(t *testing.T) {
			if errs := x.Validate(); len(errs) != 0 {
				t.Errorf("Validate: %v", errs.ToAggregate())
			}
		})
	}
}

func TestValidateExceptionInvalid(t *testing.T) {
	with := func(f func(s *PolicyExceptionSpec)) *PolicyException {
		s := validException()
		f(&s)
		return exceptionWith(s)
	}
	cases := []struct {
		name string
		x    *PolicyException
		want []string
	}{
		{"no name or namespace", &PolicyException{Spec: validException()}, []string{"metadata.name", "metadata.namespace"}},
		{"bad name and namespace", &PolicyException{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name", Namespace: "a.b"}, Spec: validException()},
			[]string{"metadata.name", "metadata.namespace"}},
		{"no reason", with(func(s *PolicyExceptionSpec) { s.Reason = "" }), []string{"spec.reason"}},
		{"long reason", with(func(s *PolicyExceptionSpec) { s.Reason = strings.Repeat("x", 1025) }), []string{"spec.reason"}},
		{"no policies", with(func(s *PolicyExceptionSpec) { s.Policies = nil }), []string{"spec.policies"}},
		{"too many policies", with(func(s *PolicyExceptionSpec) {
			for i := range 64 {
				s.Policies = append(s.Policies, ExceptionPolicy{Name: "p" + strings.Repeat("x", i)})
			}
		}), []string{"spec.policies"}},
		{"policy names", with(func(s *PolicyExceptionSpec) {
			s.Policies = []ExceptionPolicy{{Name: ""}, {Name: "Bad Name"}, {Name: "ok"}, {Name: "ok"}}
		}), []string{"spec.policies[0].name", "spec.policies[1].name", "spec.policies[3].name"}},
		{"rules", with(func(s *PolicyExceptionSpec) {
			s.Policies[0].Rules = []string{"podSecurity", "", "containers..privileged", "containers.*", strings.Repeat("a", 129), "podSecurity"}
		}), []string{"spec.policies[0].rules[1]", "spec.policies[0].rules[2]", "spec.policies[0].rules[3]",
			"spec.policies[0].rules[4]", "spec.policies[0].rules[5]"}},
		{"match", with(func(s *PolicyExceptionSpec) {
			s.Match = ExceptionMatch{
				Namespaces: []string{"ok-*", "Team", "", "a.b"},
				Kinds:      []string{"Pod", "Service", "pod", "Pod"},
				Names:      []string{"web-*", "web/1", strings.Repeat("a", 254)},
				Selector:   &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Is"}}},
				Containers: []string{"app", "a.b"},
				Images:     []string{"quay.io/cilium/*", "quay.io/cilium/agent:v*", "*"},
			}
		}), []string{
			"spec.match.namespaces[1]", "spec.match.namespaces[2]", "spec.match.namespaces[3]",
			"spec.match.names[1]", "spec.match.names[2]",
			"spec.match.containers[1]",
			"spec.match.kinds[1]", "spec.match.kinds[2]", "spec.match.kinds[3]",
			"spec.match.selector.matchExpressions[0].operator",
			"spec.match.images[1]", "spec.match.images[2]",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := c.x.Validate()
			if diff := cmp.Diff(c.want, fieldsOf(errs)); diff != "" {
				t.Errorf("invalid fields (-want +got):\n%s\nerrors:\n%s", diff, errs.ToAggregate())
			}
			for _, e := range errs {
				if e.Detail == "" && e.Type != field.ErrorTypeDuplicate && e.Type != field.ErrorTypeNotSupported && e.Type != field.ErrorTypeTooLong && e.Type != field.ErrorTypeTooMany {
					t.Errorf("%s: no detail saying how to fix it", e.Field)
				}
			}
		})
	}
}

func TestValidatePolicyExceptions(t *testing.T) {
	cases := []struct {
		name string
		x    *ExceptionRules
		want []string
	}{
		{"forbid", &ExceptionRules{Forbid: true}, nil},
		{"allowed", &ExceptionRules{AllowedNamespaces: []string{"sealgate-system", "platform"}}, nil},
		{"forbid with allowed", &ExceptionRules{Forbid: true, AllowedNamespaces: []string{"platform"}}, []string{"spec.exceptions.allowedNamespaces"}},
		{"bad names", &ExceptionRules{AllowedNamespaces: []string{"Platform", "", "team-*", "ok", "ok"}},
			[]string{"spec.exceptions.allowedNamespaces[0]", "spec.exceptions.allowedNamespaces[1]", "spec.exceptions.allowedNamespaces[2]",
				"spec.exceptions.allowedNamespaces[4]"}},
		{"too many", &ExceptionRules{AllowedNamespaces: manyNamespaces(65)}, []string{"spec.exceptions.allowedNamespaces"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := policyWith(PolicySpec{Exceptions: c.x})
			p.Default()
			errs := p.Validate()
			if diff := cmp.Diff(c.want, fieldsOf(errs)); diff != "" {
				t.Errorf("invalid fields (-want +got):\n%s\nerrors:\n%s", diff, errs.ToAggregate())
			}
		})
	}
}

func manyNamespaces(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "ns-" + strings.Repeat("a", i%60) + string(rune('a'+i/60))
	}
	return out
}

// TestExceptionDocsCoverEveryField: docs/exceptions.md names every field of a PolicyException's
// spec, so that a new one cannot land undocumented.
func TestExceptionDocsCoverEveryField(t *testing.T) {
	b, err := os.ReadFile("../../../docs/exceptions.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ.PkgPath() != reflect.TypeFor[PolicyExceptionSpec]().PkgPath() {
			return
		}
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			// Named in a path or as itself: "spec.match.images[i]", "`expires`".
			if !regexp.MustCompile("[.`]" + regexp.QuoteMeta(name) + "\\b").MatchString(doc) {
				t.Errorf("docs/exceptions.md does not name %s.%s", path, name)
			}
			walk(typ.Field(i).Type, path+"."+name)
		}
	}
	walk(reflect.TypeFor[PolicyExceptionSpec](), "spec")
}
