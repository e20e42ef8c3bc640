// Package engine evaluates policies against a workload: which policies match, and every rule of each
// over every container. It is the one library behind the webhook, `sealgate check` and the audit; the
// front ends never re-implement a rule.
package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/workload"
)

// Violation is one thing a policy found wrong, with where it is. When several rules of one policy
// flag the same field, they are one violation: Rule is the first in rule order, with its message,
// and AlsoRules the others.
type Violation struct {
	Policy    string        `json:"policy"`
	Rule      string        `json:"rule"`
	AlsoRules []string      `json:"alsoRules,omitempty"`
	Mode      v1alpha1.Mode `json:"mode"`
	Path      string        `json:"path"`
	Container string        `json:"container,omitempty"`
	Message   string        `json:"message"`
	// Excepted names the PolicyException that waives the violation, "namespace/name"; empty when
	// none does. An excepted violation neither denies nor warns, but it is always reported.
	Excepted string `json:"excepted,omitempty"`
}

// String renders the violation as one line: "spec.containers[0].image: <message> [policy/rule]",
// with every rule that flagged the field: "[policy/rule, other.rule]", and " (excepted by
// namespace/name)" when an exception waives it.
func (v Violation) String() string {
	if v.Excepted != "" {
		return fmt.Sprintf("%s: %s [%s/%s] (excepted by %s)", v.Path, v.Message, v.Policy, v.RuleList(), v.Excepted)
	}
	return fmt.Sprintf("%s: %s [%s/%s]", v.Path, v.Message, v.Policy, v.RuleList())
}

// RuleList is the violation's rule IDs joined by ", ".
func (v *Violation) RuleList() string {
	if len(v.AlsoRules) == 0 {
		return v.Rule
	}
	return v.Rule + ", " + strings.Join(v.AlsoRules, ", ")
}

// Rules calls fn with each rule ID of the violation: Rule, then AlsoRules.
func (v *Violation) Rules(fn func(rule string)) {
	fn(v.Rule)
	for _, r := range v.AlsoRules {
		fn(r)
	}
}

// Result is the outcome of evaluating one workload. What it holds is bounded (limits.go): past
// MaxViolationsPerRule violations of one policy and rule, or MaxViolationsPerMode of one mode, the
// engine only counts them, in Omitted. An omitted violation counts toward the verdict like a
// listed one.
type Result struct {
	// Violations in policy order, then rule order, then container order.
	Violations []Violation
	// Omitted counts the violations found but not listed, per policy and rule, in the order first omitted.
	Omitted []Omission
	// Matched lists the names of the policies that applied.
	Matched []string

	// perMode counts the violations listed, per mode and excepted ones apart, against
	// MaxViolationsPerMode.
	perMode [4]int
	// waiver is what exceptions waive of the policy being evaluated; nil when none applies.
	waiver *waiver
}

// Omission counts the violations of one policy and rule that a Result does not list.
type Omission struct {
	Policy string        `json:"policy"`
	Rule   string        `json:"rule"`
	Mode   v1alpha1.Mode `json:"mode"`
	Count  int           `json:"count"`
	// Excepted names the exception that waives these violations; empty when none does.
	Excepted string `json:"excepted,omitempty"`
}

// Allowed reports whether no Enforce policy found a violation, listed or omitted, that no exception
// waives.
func (r *Result) Allowed() bool {
	for i := range r.Violations {
		if v := &r.Violations[i]; v.Mode == v1alpha1.ModeEnforce && v.Excepted == "" {
			return false
		}
	}
	return r.OmittedCount(v1alpha1.ModeEnforce) == 0
}

// ByMode returns the violations of one mode that no exception waives.
func (r *Result) ByMode(m v1alpha1.Mode) []Violation {
	var out []Violation
	for _, v := range r.Violations {
		if v.Mode == m && v.Excepted == "" {
			out = append(out, v)
		}
	}
	return out
}

// OmittedCount returns how many violations of mode m that no exception waives the result does not
// list; "" counts every violation not listed, waived or not.
func (r *Result) OmittedCount(m v1alpha1.Mode) int {
	n := 0
	for _, o := range r.Omitted {
		if m == "" || o.Mode == m && o.Excepted == "" {
			n += o.Count
		}
	}
	return n
}

// add lists v, or counts it when its mode (or, for an excepted one, the excepted) already has
// MaxViolationsPerMode listed: waived violations never crowd out those that decide.
func (r *Result) add(v Violation) {
	i := bucket(&v)
	if r.perMode[i] >= MaxViolationsPerMode {
		r.omit(v.Policy, v.Rule, v.Mode, v.Excepted, 1)
		return
	}
	r.perMode[i]++
	r.Violations = append(r.Violations, v)
}

// omit counts n violations not listed. The list has one entry per policy, rule and exception, so
// it is bounded by the policies and exceptions, never by the pod.
func (r *Result) omit(policy, rule string, mode v1alpha1.Mode, excepted string, n int) {
	for i := len(r.Omitted) - 1; i >= 0; i-- {
		if o := &r.Omitted[i]; o.Policy == policy && o.Rule == rule && o.Excepted == excepted {
			o.Count += n
			return
		}
	}
	r.Omitted = append(r.Omitted, Omission{Policy: policy, Rule: rule, Mode: mode, Count: n, Excepted: excepted})
}

// bucket is the index in perMode that bounds v: its mode's, or the excepted violations' own.
func bucket(v *Violation) int {
	if v.Excepted != "" {
		return 3
	}
	return modeIndex(v.Mode)
}

func modeIndex(m v1alpha1.Mode) int {
	switch m {
	case v1alpha1.ModeEnforce:
		return 0
	case v1alpha1.ModeWarn:
		return 1
	default:
		return 2
	}
}

// Namespaces looks up a namespace's labels, for namespaceSelector.
type Namespaces interface {
	Labels(ctx context.Context, name string) (map[string]string, error)
}

// Signatures verifies image signatures for the signature rules of a policy. Implementations append
// findings for images they could not verify; they are never asked about an image the policy's
// allowlist or deny-list already denies (rules.AllowedImage).
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
	// ImageConfigs reads image configs for the rules that need them (imageconfig.go); nil with
	// SkipImageConfig false makes those rules fail closed.
	ImageConfigs ImageConfigs
	// SkipImageConfig skips the rules that read image configs (offline linting); the output says so.
	SkipImageConfig bool

	// SkipVAPRules skips, for each policy, the rules in its SkipRules: those the API server enforces
	// exactly through the policy's generated ValidatingAdmissionPolicy, so that a denial is reported
	// once. Only the admission path sets it; the audit and check judge objects no VAP has seen and
	// keep every rule.
	SkipVAPRules bool

	// Exceptions supplies the PolicyExceptions in force; nil means none.
	Exceptions ExceptionSource
	// ExceptionNamespace is sealgate's own namespace: where a policy accepts exceptions from when its
	// spec.exceptions.allowedNamespaces is unset.
	ExceptionNamespace string
	// Now tells whether an exception has expired; nil is time.Now.
	Now func() time.Time
}

// Evaluate runs every matching policy over the workload. namespace is where the object lives.
func (e *Engine) Evaluate(ctx context.Context, policies []*policy.Policy, w *workload.Workload, namespace string) *Result {
	res := &Result{}
	t := rules.NewTarget(w.Template, w.Spec, w.SpecPath, w.MetaPath)
	reindex(t, w)
	// One collector for every rule of every policy: it holds at most MaxViolationsPerRule findings
	// of a rule ID, however many the pod has.
	found := &rules.Findings{Limit: MaxViolationsPerRule}
	t.Namespace = namespace
	e.bindImageConfigs(ctx, t)
	var (
		nsLabels  labels.Set
		nsErr     error
		nsFetched bool
	)
	for _, p := range policies {
		if p.Excludes(namespace) || !p.MatchesKind(w.GVK) {
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
				res.add(Violation{Policy: p.Name, Rule: RuleNamespaceLookup, Mode: p.Mode,
					Path: "metadata.namespace",
					Message: rules.Truncate(fmt.Sprintf("could not read the labels of namespace %q to evaluate spec.match.namespaceSelector: %v; "+
						"sealgate fails closed, retry when the namespace is readable", namespace, nsErr), MaxMessageBytes)})
				continue
			}
			if !p.NamespaceSelector.Matches(nsLabels) {
				continue
			}
		}
		res.Matched = append(res.Matched, p.Name)
		first := len(res.Violations)
		t.Policy = p
		// Exceptions (exceptions.go): what they waive is marked as the findings are collected.
		res.waiver = e.waiver(p, w, t, namespace)
		found.Limit = res.waiver.findingsLimit()
		skip := e.skipRules(p)
		for _, r := range e.Rules.Rules() {
			if skip[r.ID] {
				continue
			}
			found.Reset()
			r.Check(p, t, found)
			res.collect(p, r.ID, found)
		}
		res.mergeSameField(first)
		if len(p.Signatures) > 0 {
			e.signatures(ctx, p, t, res, found)
		}
	}
	res.waiver = nil // it holds the pod: the result must not
	return res
}

// skipRules returns the rules of p to leave to its generated ValidatingAdmissionPolicy; nil (skip
// nothing) unless the engine is on the admission path.
func (e *Engine) skipRules(p *policy.Policy) map[string]bool {
	if !e.SkipVAPRules {
		return nil
	}
	return p.SkipRules
}

// mergeSameField folds the violations from index first on (one policy's) that flag the same field
// of the same container into the first of them, which lists the others' rule IDs: the demo's
// CronJob lacks allowPrivilegeEscalation once, not once for spec.containers and once for
// spec.podSecurity. Their number is bounded by MaxViolationsPerMode, so the quadratic scan is too.
func (r *Result) mergeSameField(first int) {
	vs := r.Violations[first:]
	if len(vs) < 2 {
		return
	}
	kept := vs[:0]
	for i := range vs {
		v := vs[i]
		merged := false
		for j := range kept {
			if k := &kept[j]; k.Path == v.Path && k.Container == v.Container && k.Mode == v.Mode && k.Excepted == v.Excepted {
				k.AlsoRules = append(k.AlsoRules, v.Rule)
				merged = true
				break
			}
		}
		if merged {
			r.perMode[bucket(&v)]--
			continue
		}
		kept = append(kept, v)
	}
	clear(vs[len(kept):])
	r.Violations = r.Violations[:first+len(kept)]
}

// collect moves one rule's findings into the result, with the count of those the rule did not keep.
func (r *Result) collect(p *policy.Policy, ruleID string, found *rules.Findings) {
	if r.waiver != nil {
		r.collectWaived(p, ruleID, found)
		return
	}
	for _, f := range found.Kept() {
		r.add(violation(p, ruleID, f))
	}
	found.Omitted(func(rule string, n int) {
		if rule == "" {
			rule = ruleID
		}
		r.omit(p.Name, rule, p.Mode, "", n)
	})
}

func (e *Engine) signatures(ctx context.Context, p *policy.Policy, t *rules.Target, res *Result, found *rules.Findings) {
	if e.SkipSignatures || !signaturesApply(p, t) {
		return
	}
	if e.Signatures == nil {
		res.add(Violation{Policy: p.Name, Rule: RuleSignatures, Mode: p.Mode, Path: "spec.signatures",
			Message: "the policy requires image signatures but this sealgate has no signature verifier configured; " +
				"sealgate fails closed: configure verification, or run `sealgate check --skip-signatures` for offline linting"})
		return
	}
	found.Reset()
	for _, f := range e.Signatures.Verify(ctx, p, t) {
		found.Add(f)
	}
	res.collect(p, RuleSignatures, found)
}

// signaturesApply reports whether any image of the pod falls under one of the policy's signature
// rules. Images the allowlist or the deny-list denies are left out: they are denied already and must
// never cost a registry call.
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

// violation attributes a finding to its policy. Path, container and message are cut to their
// limits: the rules bound what they quote of the pod, and this bounds what any rule or verifier says.
func violation(p *policy.Policy, ruleID string, f rules.Finding) Violation {
	id := ruleID
	if f.Rule != "" {
		id = f.Rule
	}
	return Violation{Policy: p.Name, Rule: id, Mode: p.Mode, Path: rules.Truncate(f.Path, MaxPathBytes),
		Container: rules.Truncate(f.Container, rules.MaxValueBytes), Message: rules.Truncate(f.Message, MaxMessageBytes)}
}

// reindex gives the target's containers their indexes in the object when the workload left some
// of the object's entries out of its pod spec (workload.Workload.ContainerIndex), so that every
// path names the object's own entry.
func reindex(t *rules.Target, w *workload.Workload) {
	if w.ContainerIndex == nil && w.InitContainerIndex == nil {
		return
	}
	cs := t.Containers()
	for i := range cs {
		switch {
		case cs[i].Kind == rules.Regular && w.ContainerIndex != nil:
			cs[i].Index = w.ContainerIndex[cs[i].Index]
		case cs[i].Kind == rules.Init && w.InitContainerIndex != nil:
			cs[i].Index = w.InitContainerIndex[cs[i].Index]
		}
	}
}
