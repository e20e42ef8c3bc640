package engine

import (
	"errors"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
	psapolicy "k8s.io/pod-security-admission/policy"

	"github.com/sealgate/sealgate/pkg/imageref"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/workload"
)

// ExceptionSource supplies the PolicyExceptions in force.
type ExceptionSource interface {
	// Exceptions returns the compiled exceptions, expired ones included (the engine checks expiry
	// at evaluation time, with Engine.Now); nil when there are none.
	Exceptions() *policy.ExceptionSet
}

// StaticExceptions is an ExceptionSource fixed at start-up (from files).
type StaticExceptions struct{ set *policy.ExceptionSet }

// NewStaticExceptions returns a source of xs.
func NewStaticExceptions(xs []*policy.Exception) StaticExceptions {
	return StaticExceptions{set: policy.NewExceptionSet(xs)}
}

// Exceptions implements ExceptionSource.
func (s StaticExceptions) Exceptions() *policy.ExceptionSet { return s.set }

// ApplicableExceptions returns the exceptions that may waive violations of p on an object of a kind,
// name and labels in namespace: those that name the policy, live in a namespace the policy accepts
// exceptions from, have not expired at now, and whose match covers the object. Which violations they
// waive is then decided by rule and, for container-scoped exceptions, by container.
func (e *Engine) ApplicableExceptions(p *policy.Policy, kind, namespace, name string, objLabels map[string]string, now time.Time) []*policy.Exception {
	if e.Exceptions == nil {
		return nil
	}
	var out []*policy.Exception
	for _, x := range e.Exceptions.Exceptions().For(p.Name) {
		if x.Expired(now) {
			continue
		}
		if ok, _ := p.AcceptsExceptionsFrom(x.Namespace, e.ExceptionNamespace); !ok {
			continue
		}
		if x.CoversObject(kind, namespace, name, objLabels, e.ExceptionNamespace) {
			out = append(out, x)
		}
	}
	return out
}

// waiver marks the findings of one policy on one object that exceptions waive.
type waiver struct {
	policy string
	xs     []*policy.Exception
	// scoped is set when an exception waives only some containers' violations: every finding must
	// then be seen to tell the waived from the rest, so the per-rule limit is applied here, to each
	// apart (kept).
	scoped bool
	t      *rules.Target
	kept   []keptCount
}

// keptCount is how many findings of one rule ID, waived or not, a collect has listed.
type keptCount struct {
	rule     string
	excepted bool
	n        int
}

// waiver returns the waiver of p for the object, nil when no exception applies: the common case
// costs one map lookup per policy.
func (e *Engine) waiver(p *policy.Policy, w *workload.Workload, t *rules.Target, namespace string) *waiver {
	if e.Exceptions == nil {
		return nil
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	xs := e.ApplicableExceptions(p, w.GVK.Kind, namespace, w.Object.Name, w.Object.Labels, now())
	if len(xs) == 0 {
		return nil
	}
	wv := &waiver{policy: p.Name, xs: xs, t: t}
	for _, x := range xs {
		wv.scoped = wv.scoped || x.ContainerScoped()
	}
	return wv
}

// findingsLimit is the per-rule limit of the findings collector: every finding when an exception
// is container-scoped (collectWaived applies the limit itself), MaxViolationsPerRule otherwise.
// A pod's findings are bounded by its containers, which the request size bounds.
func (w *waiver) findingsLimit() int {
	if w != nil && w.scoped {
		return 0
	}
	return MaxViolationsPerRule
}

// collectWaived is collect when exceptions apply: each finding is marked with the exception that
// waives it, if any. Waived and not waived findings are limited apart, so that neither crowds the
// other out.
func (r *Result) collectWaived(p *policy.Policy, ruleID string, found *rules.Findings) {
	w := r.waiver
	w.kept = w.kept[:0]
	for _, f := range found.Kept() {
		v := violation(p, ruleID, f)
		v.Excepted = w.excepting(v.Rule, f.Container)
		if w.scoped && !w.keep(v.Rule, v.Excepted != "") {
			r.omit(p.Name, v.Rule, p.Mode, v.Excepted, 1)
			continue
		}
		r.add(v)
	}
	// Findings the collector only counted come only when no exception is container-scoped: the
	// rule alone then decides whether they are waived.
	found.Omitted(func(rule string, n int) {
		if rule == "" {
			rule = ruleID
		}
		r.omit(p.Name, rule, p.Mode, w.excepting(rule, ""), n)
	})
}

// keep counts one more finding of a rule ID, waived or not, and reports whether it is within
// MaxViolationsPerRule.
func (w *waiver) keep(rule string, excepted bool) bool {
	for i := range w.kept {
		if c := &w.kept[i]; c.rule == rule && c.excepted == excepted {
			c.n++
			return c.n <= MaxViolationsPerRule
		}
	}
	w.kept = append(w.kept, keptCount{rule: rule, excepted: excepted, n: 1})
	return true
}

// excepting returns the ID of the first exception (in namespace/name order) that waives a finding
// of rule on container ("" for the pod itself), or "". A container-scoped exception never waives a
// finding of the pod itself.
func (w *waiver) excepting(rule, container string) string {
	for _, x := range w.xs {
		if !x.Waives(w.policy, rule) {
			continue
		}
		if x.ContainerScoped() && (container == "" || !w.coversContainer(x, container)) {
			continue
		}
		return x.ID()
	}
	return ""
}

// coversContainer reports whether x covers the container (or image volume) of that name, with
// its image. A container and an image volume may share a name: then both images must match.
func (w *waiver) coversContainer(x *policy.Exception, name string) bool {
	seen := false
	images := w.t.Images()
	for i := range images {
		im := &images[i]
		if im.OwnerName() != name {
			continue
		}
		seen = true
		var ref *imageref.Reference
		if im.Err == nil {
			ref = &im.Ref
		}
		if !x.CoversContainer(name, ref) {
			return false
		}
	}
	return seen || x.CoversContainer(name, nil)
}

// Excepted returns the violations an exception waives.
func (r *Result) Excepted() []Violation {
	var out []Violation
	for _, v := range r.Violations {
		if v.Excepted != "" {
			out = append(out, v)
		}
	}
	return out
}

// ExceptedOmitted returns how many waived violations the result does not list.
func (r *Result) ExceptedOmitted() int {
	n := 0
	for _, o := range r.Omitted {
		if o.Excepted != "" {
			n += o.Count
		}
	}
	return n
}

// UnknownRules returns an error for each rule an exception names that no rule of reg, nor the
// engine itself, reports: not a rule ID, a Pod Security check ("podSecurity.privileged", the ID of
// each upstream check), nor a family of them ("containers", "podSecurity"). A misspelt rule would
// otherwise waive nothing, silently.
func UnknownRules(reg *rules.Registry, x *policy.Exception) field.ErrorList {
	known, checks := RuleIDs(reg)
	isKnown := func(id string) bool {
		for _, k := range append(known, checks...) {
			if k == id || strings.HasPrefix(k, id+".") {
				return true
			}
		}
		return false
	}
	var errs field.ErrorList
	for i, p := range x.Policies {
		for j, id := range p.Rules {
			if !isKnown(id) {
				errs = append(errs, field.Invalid(field.NewPath("spec", "policies").Index(i).Child("rules").Index(j), id,
					"no rule of this sealgate has this ID, nor a family of them; use one of "+strings.Join(known, ", ")+
						", a Pod Security check such as \"podSecurity.privileged\", or a family such as \"containers\", which waives every rule under it"))
			}
		}
	}
	return errs
}

// RuleIDs returns the IDs a violation can carry: the engine's own and reg's rules, and apart, the
// ID of each Pod Security check, which the podSecurity rule reports each failing check under.
func RuleIDs(reg *rules.Registry) (known, podSecurityChecks []string) {
	known = []string{RuleNamespaceLookup, RuleSignatures}
	for _, r := range reg.Rules() {
		known = append(known, r.ID)
	}
	podSecurityChecks = make([]string, 0, 32)
	for _, c := range psapolicy.DefaultChecks() {
		podSecurityChecks = append(podSecurityChecks, "podSecurity."+string(c.ID))
	}
	return known, podSecurityChecks
}

// ValidateExceptions checks the rules each compiled exception names against reg (UnknownRules) and
// returns every problem at once, each an *policy.InvalidExceptionError; nil when all are known.
func ValidateExceptions(reg *rules.Registry, xs []*policy.Exception) error {
	var errs []error
	for _, x := range xs {
		if fe := UnknownRules(reg, x); len(fe) > 0 {
			errs = append(errs, &policy.InvalidExceptionError{Namespace: x.Namespace, Name: x.Name, Errs: fe})
		}
	}
	return errors.Join(errs...)
}
