// Package policy turns ClusterAdmissionPolicy objects into compiled policies: patterns compiled,
// selectors parsed, quantities read, once, so that evaluating a request does no parsing.
package policy

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/imageref"
	"github.com/sealgate/sealgate/pkg/workload"
)

// Policy is a compiled ClusterAdmissionPolicy. It is immutable once compiled and safe to share
// between goroutines.
type Policy struct {
	Name       string
	Generation int64
	Mode       v1alpha1.Mode

	// NamespaceSelector is nil when the policy matches every namespace.
	NamespaceSelector labels.Selector
	// ObjectSelector is nil when the policy matches every object.
	ObjectSelector    labels.Selector
	ExcludeNamespaces []string
	// Kinds is nil when the policy matches every pod-bearing kind (spec.match.kinds).
	Kinds []schema.GroupKind

	Signatures []Signature

	// configs holds each registered rule's compiled config, by the index RegisterRule gave it; nil
	// for a rule the policy does not enable.
	configs []any

	// Source is the defaulted object the policy was compiled from.
	Source *v1alpha1.ClusterAdmissionPolicy

	// SkipRules holds the IDs of the rules that the ValidatingAdmissionPolicy generated for this
	// generation enforces exactly (status.fallback lists them Exact, Synced at this generation). The
	// admission path skips them (engine.Engine.SkipVAPRules), so that the API server reports a denial
	// once; audit and check never do, because the VAP judges only admissions. The cluster sets it from
	// the object's status when it decides what is in force; nil everywhere else.
	SkipRules map[string]bool
}

// Signature is a compiled spec.signatures[i].
type Signature struct {
	Index  int
	Images []imageref.Pattern
	Rule   *v1alpha1.SignatureRule
}

// Compile defaults and validates a policy and compiles it. The error lists every invalid field.
func Compile(in *v1alpha1.ClusterAdmissionPolicy) (*Policy, error) {
	src := in.DeepCopy()
	src.Default()
	// The spec's own checks and every rule's are reported together, so that one run shows every
	// field to fix. A rule's Compile validates its own fields and must not trust the others.
	errs := src.Validate()
	if len(compilers) == 0 {
		// A binary that links no rules would enforce nothing: fail rather than admit everything.
		return nil, fmt.Errorf("policy %q: no rules are registered; import github.com/sealgate/sealgate/pkg/rules", src.Name)
	}
	configs := make([]any, len(compilers))
	for i, c := range compilers {
		cfg, cerrs := c.Compile(&src.Spec, field.NewPath("spec"))
		errs = append(errs, cerrs...)
		configs[i] = cfg
	}
	if len(errs) > 0 {
		return nil, &InvalidError{Name: src.Name, Errs: errs}
	}
	s := &src.Spec
	p := &Policy{Name: src.Name, Generation: src.Generation, Mode: s.Mode, Source: src,
		ExcludeNamespaces: s.Match.ExcludeNamespaces}
	var err error
	if p.NamespaceSelector, err = selector(s.Match.NamespaceSelector); err != nil {
		return nil, fmt.Errorf("policy %q: spec.match.namespaceSelector: %w", src.Name, err)
	}
	if p.ObjectSelector, err = selector(s.Match.ObjectSelector); err != nil {
		return nil, fmt.Errorf("policy %q: spec.match.objectSelector: %w", src.Name, err)
	}
	for _, name := range s.Match.Kinds {
		// Validated with the spec: every name is a kind workload decodes.
		k, _ := workload.KindNamed(name)
		p.Kinds = append(p.Kinds, k.GVK.GroupKind())
	}
	for i := range s.Signatures {
		pats, err := patterns(s.Signatures[i].Images)
		if err != nil {
			return nil, fmt.Errorf("policy %q: spec.signatures[%d].images: %w", src.Name, i, err)
		}
		p.Signatures = append(p.Signatures, Signature{Index: i, Images: pats, Rule: &s.Signatures[i]})
	}
	p.configs = configs
	return p, nil
}

// Excludes reports whether the namespace is listed in spec.match.excludeNamespaces.
func (p *Policy) Excludes(namespace string) bool {
	for _, ns := range p.ExcludeNamespaces {
		if ns == namespace {
			return true
		}
	}
	return false
}

// MatchesKind reports whether the policy applies to objects of this kind (spec.match.kinds). The
// version plays no part: a kind has one version sealgate decodes.
func (p *Policy) MatchesKind(gvk schema.GroupVersionKind) bool {
	if p.Kinds == nil {
		return true
	}
	for _, k := range p.Kinds {
		if k.Group == gvk.Group && k.Kind == gvk.Kind {
			return true
		}
	}
	return false
}

func selector(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil || (len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0) {
		return nil, nil
	}
	return metav1.LabelSelectorAsSelector(s)
}

func patterns(in []string) ([]imageref.Pattern, error) {
	out := make([]imageref.Pattern, len(in))
	for i, s := range in {
		p, err := imageref.CompilePattern(s)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// InvalidError is a policy that failed validation; Errs holds every invalid field. Unknown holds the
// unknown and duplicate fields strict decoding found, listed first, one per line like Errs.
type InvalidError struct {
	Name    string
	Unknown []error
	Errs    field.ErrorList
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy %q is invalid:", e.Name)
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
