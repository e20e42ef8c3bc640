// Package policy turns ClusterAdmissionPolicy objects into compiled policies: patterns compiled,
// selectors parsed, quantities read, once, so that evaluating a request does no parsing.
package policy

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
	psaapi "k8s.io/pod-security-admission/api"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/imageref"
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

	Images      *Images
	Signatures  []Signature
	PodSecurity *psaapi.LevelVersion
	Containers  *Containers
	Resources   *Resources

	// Source is the defaulted object the policy was compiled from.
	Source *v1alpha1.ClusterAdmissionPolicy
}

// Images is the compiled spec.images.
type Images struct {
	// Allowed is nil when every registry is allowed; empty-but-set never happens (validation).
	Allowed           []imageref.Pattern
	RequireDigest     bool
	DisallowLatestTag bool
}

// Signature is a compiled spec.signatures[i].
type Signature struct {
	Index  int
	Images []imageref.Pattern
	Rule   *v1alpha1.SignatureRule
}

// Containers is the compiled spec.containers.
type Containers struct {
	Privileged               bool
	RunAsRoot                bool
	AllowPrivilegeEscalation bool
	HostNamespaces           bool
	ReadOnlyRootFilesystem   bool
	RequireDropAll           bool
	// RestrictAdd is true when spec.containers.capabilities is set: only AllowedAdd may be added.
	RestrictAdd bool
	AllowedAdd  []corev1.Capability
}

// Resources is the compiled spec.resources.
type Resources struct {
	RequireRequests      []corev1.ResourceName
	RequireLimits        []corev1.ResourceName
	MaxLimits            []Bound
	MaxLimitRequestRatio []Bound
}

// Bound is a per-resource maximum, in a stable order.
type Bound struct {
	Name  corev1.ResourceName
	Value resource.Quantity
}

// Compile defaults and validates a policy and compiles it. The error lists every invalid field.
func Compile(in *v1alpha1.ClusterAdmissionPolicy) (*Policy, error) {
	src := in.DeepCopy()
	src.Default()
	if errs := src.Validate(); len(errs) > 0 {
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
	if im := s.Images; im != nil {
		p.Images = &Images{RequireDigest: im.RequireDigest, DisallowLatestTag: im.DisallowLatestTag}
		if im.AllowedRegistries != nil {
			if p.Images.Allowed, err = patterns(im.AllowedRegistries); err != nil {
				return nil, fmt.Errorf("policy %q: spec.images.allowedRegistries: %w", src.Name, err)
			}
		}
	}
	for i := range s.Signatures {
		pats, err := patterns(s.Signatures[i].Images)
		if err != nil {
			return nil, fmt.Errorf("policy %q: spec.signatures[%d].images: %w", src.Name, i, err)
		}
		p.Signatures = append(p.Signatures, Signature{Index: i, Images: pats, Rule: &s.Signatures[i]})
	}
	if ps := s.PodSecurity; ps != nil {
		lv := psaapi.LevelVersion{}
		lv.Level, _ = psaapi.ParseLevel(ps.Level) // validated above
		lv.Version, _ = psaapi.ParseVersion(ps.Version)
		p.PodSecurity = &lv
	}
	if c := s.Containers; c != nil {
		p.Containers = &Containers{
			Privileged:               c.Privileged == v1alpha1.Forbidden,
			RunAsRoot:                c.RunAsRoot == v1alpha1.Forbidden,
			AllowPrivilegeEscalation: c.AllowPrivilegeEscalation == v1alpha1.Forbidden,
			HostNamespaces:           c.HostNamespaces == v1alpha1.Forbidden,
			ReadOnlyRootFilesystem:   c.ReadOnlyRootFilesystem == v1alpha1.Required,
		}
		if caps := c.Capabilities; caps != nil {
			p.Containers.RequireDropAll = caps.RequireDropAll
			p.Containers.RestrictAdd = true
			p.Containers.AllowedAdd = caps.AllowedAdd
		}
	}
	if r := s.Resources; r != nil {
		p.Resources = &Resources{
			RequireRequests:      r.RequireRequests,
			RequireLimits:        r.RequireLimits,
			MaxLimits:            bounds(r.MaxLimits),
			MaxLimitRequestRatio: bounds(r.MaxLimitRequestRatio),
		}
	}
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

func bounds(m map[corev1.ResourceName]resource.Quantity) []Bound {
	out := make([]Bound, 0, len(m))
	for n, q := range m {
		out = append(out, Bound{Name: n, Value: q})
	}
	// A stable order keeps messages and golden files stable.
	slices.SortFunc(out, func(a, b Bound) int { return strings.Compare(string(a.Name), string(b.Name)) })
	return out
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
