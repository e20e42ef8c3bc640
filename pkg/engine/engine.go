// Package engine evaluates policies against a workload: which policies match, and every rule of each
// over every container. It is the one library behind the webhook, `sealgate check` and the audit; the
// front ends never re-implement a rule.
package engine

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/workload"
)

// Violation is one thing a policy found wrong, with where it is.
type Violation struct {
	Policy    string        `json:"policy"`
	Rule      string        `json:"rule"`
	Mode      v1alpha1.Mode `json:"mode"`
	Path      string        `json:"path"`
	Container string        `json:"container,omitempty"`
	Message   string        `json:"message"`
}

// String renders the violation as one line: "spec.containers[0].image: <message> (policy/rule)".
func (v Violation) String() string {
	return fmt.Sprintf("%s: %s [%s/%s]", v.Path, v.Message, v.Policy, v.Rule)
}

// Result is the outcome of evaluating one workload.
type Result struct {
	// Violations in policy order, then rule order, then container order.
	Violations []Violation
	// Matched lists the names of the policies that applied.
	Matched []string
}

// Allowed reports whether no Enforce policy found a violation.
func (r *Result) Allowed() bool {
	for i := range r.Violations {
		if r.Violations[i].Mode == v1alpha1.ModeEnforce {
			return false
		}
	}
	return true
}

// ByMode returns the violations of one mode.
func (r *Result) ByMode(m v1alpha1.Mode) []Violation {
	var out []Violation
	for _, v := range r.Violations {
		if v.Mode == m {
			out = append(out, v)
		}
	}
	return out
}

// Namespaces looks up a namespace's labels, for namespaceSelector.
type Namespaces interface {
	Labels(ctx context.Context, name string) (map[string]string, error)
}

// Signatures verifies image signatures for the signature rules of a policy. Implementations append
// findings for images they could not verify; they are never asked about an image the policy's
// allowlist already denies.
type Signatures interface {
	Verify(ctx context.Context, p *policy.Policy, t *rules.Target) []rules.Finding
}

// Rule IDs the engine itself reports, for failures around the rules rather than in them.
const (
	RuleNamespaceLookup = "match.namespaceSelector"
	RuleSignatures      = "signatures"
)

// Engine evaluates workloads. It holds no per-request state and is safe for concurrent use.
type Engine struct {
	Rules *rules.Registry
	// Namespaces supplies namespace labels; nil means only kubernetes.io/metadata.name is known.
	Namespaces Namespaces
	// Signatures verifies signature rules; nil with SkipSignatures false denies (fails closed).
	Signatures Signatures
	// SkipSignatures skips signature rules (offline linting); the result says so.
	SkipSignatures bool
}

// Evaluate runs every matching policy over the workload. namespace is where the object lives.
func (e *Engine) Evaluate(ctx context.Context, policies []*policy.Policy, w *workload.Workload, namespace string) *Result {
	res := &Result{}
	t := rules.NewTarget(w.Template, w.Spec, w.SpecPath, w.MetaPath)
	t.Namespace = namespace
	var (
		nsLabels  labels.Set
		nsErr     error
		nsFetched bool
	)
	for _, p := range policies {
		if p.Excludes(namespace) {
			continue
		}
		if p.ObjectSelector != nil && !p.ObjectSelector.Matches(labels.Set(w.Object.Labels)) {
			continue
		}
		if p.NamespaceSelector != nil {
			if !nsFetched {
				nsLabels, nsErr = e.namespaceLabels(ctx, namespace)
				nsFetched = true
			}
			if nsErr != nil {
				// A failed lookup never means "no match": the policy reports it, and in Enforce denies.
				res.Matched = append(res.Matched, p.Name)
				res.Violations = append(res.Violations, Violation{Policy: p.Name, Rule: RuleNamespaceLookup, Mode: p.Mode,
					Path: "metadata.namespace",
					Message: fmt.Sprintf("could not read the labels of namespace %q to evaluate spec.match.namespaceSelector: %v; "+
						"sealgate fails closed, retry when the namespace is readable", namespace, nsErr)})
				continue
			}
			if !p.NamespaceSelector.Matches(nsLabels) {
				continue
			}
		}
		res.Matched = append(res.Matched, p.Name)
		for _, r := range e.Rules.Rules() {
			for _, f := range r.Check(p, t) {
				res.Violations = append(res.Violations, violation(p, r.ID, f))
			}
		}
		if len(p.Signatures) > 0 {
			res.Violations = append(res.Violations, e.signatures(ctx, p, t)...)
		}
	}
	return res
}

func (e *Engine) signatures(ctx context.Context, p *policy.Policy, t *rules.Target) []Violation {
	if e.SkipSignatures || !signaturesApply(p, t) {
		return nil
	}
	if e.Signatures == nil {
		return []Violation{{Policy: p.Name, Rule: RuleSignatures, Mode: p.Mode, Path: "spec.signatures",
			Message: "the policy requires image signatures but this sealgate has no signature verifier configured; " +
				"sealgate fails closed: configure verification, or run `sealgate check --skip-signatures` for offline linting"}}
	}
	var out []Violation
	for _, f := range e.Signatures.Verify(ctx, p, t) {
		out = append(out, violation(p, RuleSignatures, f))
	}
	return out
}

// signaturesApply reports whether any image of the pod falls under one of the policy's signature
// rules. Images the allowlist denies are left out: they are denied already and must never cost a
// registry call.
func signaturesApply(p *policy.Policy, t *rules.Target) bool {
	images := t.Images()
	for i := range images {
		im := &images[i]
		if im.Err != nil || !rules.AllowedImage(p, im) {
			continue
		}
		for _, s := range p.Signatures {
			for _, pat := range s.Images {
				if pat.Match(im.Ref) {
					return true
				}
			}
		}
	}
	return false
}

func (e *Engine) namespaceLabels(ctx context.Context, namespace string) (labels.Set, error) {
	if e.Namespaces == nil {
		return labels.Set{"kubernetes.io/metadata.name": namespace}, nil
	}
	l, err := e.Namespaces.Labels(ctx, namespace)
	if err != nil {
		return nil, err
	}
	return labels.Set(l), nil
}

func violation(p *policy.Policy, ruleID string, f rules.Finding) Violation {
	id := ruleID
	if f.Rule != "" {
		id = f.Rule
	}
	return Violation{Policy: p.Name, Rule: id, Mode: p.Mode, Path: f.Path, Container: f.Container, Message: f.Message}
}
