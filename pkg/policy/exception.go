package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/imageref"
)

// Exception is a compiled PolicyException: globs, selector and image patterns ready to match, so
// that evaluating a request does no parsing. It is immutable once compiled.
type Exception struct {
	Namespace  string
	Name       string
	Generation int64
	Reason     string
	// Expires is when the exception stops applying; zero never.
	Expires  time.Time
	Policies []ExceptionPolicy

	// MatchNamespaces is nil when the exception covers its own namespace only.
	MatchNamespaces []Glob
	MatchKinds      []string
	MatchNames      []Glob
	// Selector is nil when the exception covers every object.
	Selector        labels.Selector
	MatchContainers []Glob
	MatchImages     []imageref.Pattern

	// Source is the object the exception was compiled from.
	Source *v1alpha1.PolicyException
}

// ExceptionPolicy is one policy an exception names, with the rules of it that it waives; Rules is
// empty when it waives every rule.
type ExceptionPolicy struct {
	Name  string
	Rules []string
}

// CompileException validates an exception and compiles it. The error is an *InvalidExceptionError
// listing every invalid field.
func CompileException(in *v1alpha1.PolicyException) (*Exception, error) {
	src := in.DeepCopy()
	if errs := src.Validate(); len(errs) > 0 {
		return nil, &InvalidExceptionError{Namespace: src.Namespace, Name: src.Name, Errs: errs}
	}
	s := &src.Spec
	x := &Exception{Namespace: src.Namespace, Name: src.Name, Generation: src.Generation, Reason: s.Reason, Source: src,
		MatchNamespaces: globs(s.Match.Namespaces), MatchKinds: s.Match.Kinds, MatchNames: globs(s.Match.Names),
		MatchContainers: globs(s.Match.Containers)}
	if s.Expires != nil {
		x.Expires = s.Expires.Time
	}
	for _, p := range s.Policies {
		x.Policies = append(x.Policies, ExceptionPolicy{Name: p.Name, Rules: p.Rules})
	}
	var err error
	if x.Selector, err = selector(s.Match.Selector); err != nil {
		return nil, fmt.Errorf("exception %q: spec.match.selector: %w", x.ID(), err)
	}
	if x.MatchImages, err = patterns(s.Match.Images); err != nil {
		return nil, fmt.Errorf("exception %q: spec.match.images: %w", x.ID(), err)
	}
	return x, nil
}

// ID names the exception as violations name it: "namespace/name".
func (x *Exception) ID() string { return x.Namespace + "/" + x.Name }

// Expired reports whether the exception no longer applies at now.
func (x *Exception) Expired(now time.Time) bool {
	return !x.Expires.IsZero() && !now.Before(x.Expires)
}

// NamesPolicy reports whether the exception names the policy.
func (x *Exception) NamesPolicy(policy string) bool {
	return slices.ContainsFunc(x.Policies, func(p ExceptionPolicy) bool { return p.Name == policy })
}

// Waives reports whether the exception waives a rule of a policy: it names the policy, and either
// no rules (every rule), the rule's ID, or the family the ID belongs to ("podSecurity" waives
// "podSecurity.privileged"; "containers" waives "containers.privileged").
func (x *Exception) Waives(policy, rule string) bool {
	for _, p := range x.Policies {
		if p.Name != policy {
			continue
		}
		if len(p.Rules) == 0 {
			return true
		}
		for _, r := range p.Rules {
			if rule == r || strings.HasPrefix(rule, r) && rule[len(r)] == '.' {
				return true
			}
		}
	}
	return false
}

// ContainerScoped reports whether the exception waives only the violations of some containers
// (match.containers or match.images is set): it never waives a violation of the pod itself.
func (x *Exception) ContainerScoped() bool {
	return len(x.MatchContainers) > 0 || len(x.MatchImages) > 0
}

// CoversObject reports whether the exception covers an object of a kind, with a name and labels,
// in a namespace. sealgateNamespace is sealgate's own: an exception that lives anywhere else covers
// objects of its own namespace only, so that the right to create exceptions in a namespace (a
// RoleBinding there) never reaches beyond it.
func (x *Exception) CoversObject(kind, namespace, name string, objLabels map[string]string, sealgateNamespace string) bool {
	switch {
	case x.Namespace != sealgateNamespace && namespace != x.Namespace:
		return false
	case x.MatchNamespaces == nil && namespace != x.Namespace:
		return false
	case x.MatchNamespaces != nil && !matchAny(x.MatchNamespaces, namespace):
		return false
	case len(x.MatchKinds) > 0 && !slices.Contains(x.MatchKinds, kind):
		return false
	case x.MatchNames != nil && !matchAny(x.MatchNames, name):
		return false
	case x.Selector != nil && !x.Selector.Matches(labels.Set(objLabels)):
		return false
	}
	return true
}

// CoversContainer reports whether the exception covers a violation of one container (or image
// volume) with an image: its name matches match.containers, and its image match.images, when
// those are set. image is nil when the image did not parse; it then matches no image pattern.
func (x *Exception) CoversContainer(container string, image *imageref.Reference) bool {
	if x.MatchContainers != nil && !matchAny(x.MatchContainers, container) {
		return false
	}
	if len(x.MatchImages) == 0 {
		return true
	}
	if image == nil {
		return false
	}
	for _, p := range x.MatchImages {
		if p.Match(*image) {
			return true
		}
	}
	return false
}

// AcceptsExceptionsFrom reports whether the policy accepts exceptions that live in namespace, and
// when it does not, says why, naming the field that decides: spec.exceptions.forbid, or the
// namespaces it accepts them from (spec.exceptions.allowedNamespaces, by default sealgate's own).
func (p *Policy) AcceptsExceptionsFrom(namespace, sealgateNamespace string) (bool, string) {
	var x *v1alpha1.ExceptionRules
	if p.Source != nil {
		x = p.Source.Spec.Exceptions
	}
	switch {
	case x != nil && x.Forbid:
		return false, fmt.Sprintf("policy %q forbids exceptions (spec.exceptions.forbid)", p.Name)
	case x != nil && len(x.AllowedNamespaces) > 0:
		if slices.Contains(x.AllowedNamespaces, namespace) {
			return true, ""
		}
		return false, fmt.Sprintf("policy %q accepts exceptions only from namespaces %s (spec.exceptions.allowedNamespaces); "+
			"move the exception there, or add %q to that list", p.Name, quoteAll(x.AllowedNamespaces), namespace)
	case namespace == sealgateNamespace:
		return true, ""
	}
	return false, fmt.Sprintf("policy %q accepts exceptions only from sealgate's namespace %q (spec.exceptions.allowedNamespaces is unset); "+
		"move the exception there, or list %q in the policy's spec.exceptions.allowedNamespaces", p.Name, sealgateNamespace, namespace)
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// ExceptionSet is a set of compiled exceptions indexed by the policies they name. It is immutable
// once built and safe to share; a nil set holds nothing.
type ExceptionSet struct {
	all      []*Exception
	byPolicy map[string][]*Exception
}

// NewExceptionSet indexes exceptions, in namespace/name order so that the exception a violation
// names is the same on every replica.
func NewExceptionSet(xs []*Exception) *ExceptionSet {
	s := &ExceptionSet{all: slices.Clone(xs), byPolicy: map[string][]*Exception{}}
	slices.SortFunc(s.all, func(a, b *Exception) int { return strings.Compare(a.ID(), b.ID()) })
	for _, x := range s.all {
		for _, p := range x.Policies {
			s.byPolicy[p.Name] = append(s.byPolicy[p.Name], x)
		}
	}
	return s
}

// For returns the exceptions that name a policy, in namespace/name order.
func (s *ExceptionSet) For(policy string) []*Exception {
	if s == nil {
		return nil
	}
	return s.byPolicy[policy]
}

// All returns every exception in namespace/name order.
func (s *ExceptionSet) All() []*Exception {
	if s == nil {
		return nil
	}
	return s.all
}

// InvalidExceptionError is an exception that failed validation; Errs holds every invalid field.
// Unknown holds the unknown and duplicate fields strict decoding found, listed first.
type InvalidExceptionError struct {
	Namespace, Name string
	Unknown         []error
	Errs            field.ErrorList
}

func (e *InvalidExceptionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "exception %q is invalid:", e.Namespace+"/"+e.Name)
	for _, err := range e.Unknown {
		b.WriteString("\n  ")
		b.WriteString(err.Error())
	}
	for _, err := range e.Errs {
		b.WriteString("\n  ")
		b.WriteString(err.Error())
	}
	return b.String()
}

// Acceptance says how the policies an exception names take it: for each that exists (lookup returns
// it) and does not accept exceptions from the exception's namespace, why (AcceptsExceptionsFrom);
// and which it names that do not exist. Both are in the exception's order of policies.
func (x *Exception) Acceptance(lookup func(name string) *Policy, sealgateNamespace string) (ignoredBy, missing []string) {
	for _, ep := range x.Policies {
		p := lookup(ep.Name)
		if p == nil {
			missing = append(missing, ep.Name)
			continue
		}
		if ok, why := p.AcceptsExceptionsFrom(x.Namespace, sealgateNamespace); !ok {
			ignoredBy = append(ignoredBy, why)
		}
	}
	return ignoredBy, missing
}
