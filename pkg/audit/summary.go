package audit

import (
	"cmp"
	"slices"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

// Summary totals an audit: by policy and rule, and by namespace, each worst first.
type Summary struct {
	// Objects counts the top-level objects audited, Pods the pods among and under them.
	Objects int `json:"objects"`
	Pods    int `json:"pods"`
	// Denied, Warned and Audited count the objects with a violation of an Enforce, Warn or Audit
	// policy; an object may count in several.
	Denied  int `json:"denied"`
	Warned  int `json:"warned"`
	Audited int `json:"audited"`
	// OutOfScope counts objects in namespaces the webhook never sees, Skipped those its object
	// selector leaves out.
	OutOfScope int `json:"outOfScope"`
	Skipped    int `json:"skipped"`
	// Excepted counts the objects with a violation a PolicyException waives. Waived violations
	// count in no other total: Policies and the counts above are what would deny, warn or be audited.
	Excepted int `json:"excepted"`

	Policies   []PolicyTotal    `json:"policies"`
	Namespaces []NamespaceTotal `json:"namespaces"`
	// Exceptions totals what each exception waives, by policy and rule, most objects first.
	Exceptions []ExceptionTotal `json:"exceptions"`
}

// ExceptionTotal counts the objects whose violations of one rule of a policy one exception waives.
type ExceptionTotal struct {
	Exception string `json:"exception"`
	Policy    string `json:"policy"`
	Rule      string `json:"rule"`
	Totals
}

// PolicyTotal counts the objects that violate one policy.
type PolicyTotal struct {
	Policy string        `json:"policy"`
	Mode   v1alpha1.Mode `json:"mode"`
	Totals
	Rules []RuleTotal `json:"rules"`
}

// RuleTotal counts the objects that violate one rule of a policy.
type RuleTotal struct {
	Rule string `json:"rule"`
	Totals
}

// Totals counts violating objects, the pods under them and where they are.
type Totals struct {
	Objects int `json:"objects"`
	Pods    int `json:"pods"`
	// Namespaces lists the namespaces with a violating object, most objects first.
	Namespaces []NamespaceCount `json:"namespaces"`
}

// NamespaceCount is how many violating objects one namespace has.
type NamespaceCount struct {
	Namespace string `json:"namespace"`
	Objects   int    `json:"objects"`
}

// NamespaceTotal is the audit of one namespace in numbers.
type NamespaceTotal struct {
	Namespace string `json:"namespace"`
	Objects   int    `json:"objects"`
	Pods      int    `json:"pods"`
	Denied    int    `json:"denied"`
	Warned    int    `json:"warned"`
	Audited   int    `json:"audited"`
	Excepted  int    `json:"excepted"`
}

// Finish completes every namespace and returns the entries, namespace by namespace in name order,
// and the totals. Call it once, after the last Add.
func (r *Result) Finish() ([]*Entry, *Summary) {
	s := &Summary{Policies: []PolicyTotal{}, Namespaces: []NamespaceTotal{}, Exceptions: []ExceptionTotal{}}
	names := make([]string, 0, len(r.Namespaces))
	for name := range r.Namespaces {
		names = append(names, name)
	}
	slices.Sort(names)
	var entries []*Entry
	policies := map[string]*policyCount{}
	waived := map[waivedRule]*count{}
	for _, name := range names {
		ns := r.Namespaces[name]
		s.OutOfScope += ns.OutOfScope
		if !ns.InScope {
			continue
		}
		ns.finish()
		s.Objects += ns.Objects
		s.Pods += ns.Pods
		s.Skipped += ns.Skipped
		nt := NamespaceTotal{Namespace: name, Objects: ns.Objects, Pods: ns.Pods}
		for _, e := range ns.Entries {
			entries = append(entries, e)
			modes := e.modes()
			for m := range modes {
				switch m {
				case v1alpha1.ModeEnforce:
					nt.Denied++
				case v1alpha1.ModeWarn:
					nt.Warned++
				default:
					nt.Audited++
				}
			}
			for pr, mode := range e.rules() {
				pc := policies[pr.policy]
				if pc == nil {
					pc = &policyCount{mode: mode, rules: map[string]*count{}}
					policies[pr.policy] = pc
				}
				rc := pc.rules[pr.rule]
				if rc == nil {
					rc = &count{ns: map[string]int{}}
					pc.rules[pr.rule] = rc
				}
				rc.add(e)
			}
			for p := range e.policiesViolated() {
				policies[p].add(e)
			}
			ws := e.waived()
			if len(ws) > 0 {
				nt.Excepted++
			}
			for w := range ws {
				c := waived[w]
				if c == nil {
					c = &count{ns: map[string]int{}}
					waived[w] = c
				}
				c.add(e)
			}
		}
		s.Denied += nt.Denied
		s.Warned += nt.Warned
		s.Audited += nt.Audited
		s.Excepted += nt.Excepted
		s.Namespaces = append(s.Namespaces, nt)
	}
	slices.SortStableFunc(s.Namespaces, func(a, b NamespaceTotal) int {
		return cmp.Or(cmp.Compare(b.Denied, a.Denied), cmp.Compare(b.Warned, a.Warned), cmp.Compare(b.Audited, a.Audited),
			cmp.Compare(a.Namespace, b.Namespace))
	})
	for name, pc := range policies {
		pt := PolicyTotal{Policy: name, Mode: pc.mode, Totals: pc.totals()}
		for rule, rc := range pc.rules {
			pt.Rules = append(pt.Rules, RuleTotal{Rule: rule, Totals: rc.totals()})
		}
		slices.SortFunc(pt.Rules, func(a, b RuleTotal) int {
			return cmp.Or(cmp.Compare(b.Objects, a.Objects), cmp.Compare(a.Rule, b.Rule))
		})
		s.Policies = append(s.Policies, pt)
	}
	slices.SortFunc(s.Policies, func(a, b PolicyTotal) int {
		return cmp.Or(cmp.Compare(b.Objects, a.Objects), cmp.Compare(a.Policy, b.Policy))
	})
	for w, c := range waived {
		s.Exceptions = append(s.Exceptions, ExceptionTotal{Exception: w.exception, Policy: w.policy, Rule: w.rule, Totals: c.totals()})
	}
	slices.SortFunc(s.Exceptions, func(a, b ExceptionTotal) int {
		return cmp.Or(cmp.Compare(b.Objects, a.Objects), cmp.Compare(a.Exception, b.Exception), cmp.Compare(a.Policy, b.Policy),
			cmp.Compare(a.Rule, b.Rule))
	})
	return entries, s
}

// waivedRule is a rule of a policy that an exception waives.
type waivedRule struct{ exception, policy, rule string }

// waived returns the rules of policies the entry's waived violations break, listed or omitted, with
// the exception that waives each.
func (e *Entry) waived() map[waivedRule]bool {
	out := map[waivedRule]bool{}
	for i := range e.Violations {
		if v := &e.Violations[i]; v.Excepted != "" {
			v.Rules(func(rule string) { out[waivedRule{v.Excepted, v.Policy, rule}] = true })
		}
	}
	for _, o := range e.Omitted {
		if o.Excepted != "" {
			out[waivedRule{o.Excepted, o.Policy, o.Rule}] = true
		}
	}
	return out
}

type policyRule struct{ policy, rule string }

type count struct {
	objects, pods int
	ns            map[string]int
}

func (c *count) add(e *Entry) {
	c.objects++
	c.pods += e.Pods
	c.ns[e.Namespace]++
}

func (c *count) totals() Totals {
	t := Totals{Objects: c.objects, Pods: c.pods, Namespaces: make([]NamespaceCount, 0, len(c.ns))}
	for ns, n := range c.ns {
		t.Namespaces = append(t.Namespaces, NamespaceCount{Namespace: ns, Objects: n})
	}
	slices.SortFunc(t.Namespaces, func(a, b NamespaceCount) int {
		return cmp.Or(cmp.Compare(b.Objects, a.Objects), cmp.Compare(a.Namespace, b.Namespace))
	})
	return t
}

type policyCount struct {
	mode v1alpha1.Mode
	count
	rules map[string]*count
}

func (p *policyCount) add(e *Entry) {
	if p.ns == nil {
		p.ns = map[string]int{}
	}
	p.count.add(e)
}

// rules returns the policy rules the entry violates, listed or omitted, with the policy's mode;
// what exceptions waive is left out (waived).
func (e *Entry) rules() map[policyRule]v1alpha1.Mode {
	out := map[policyRule]v1alpha1.Mode{}
	for i := range e.Violations {
		if v := &e.Violations[i]; v.Excepted == "" {
			v.Rules(func(rule string) { out[policyRule{v.Policy, rule}] = v.Mode })
		}
	}
	for _, o := range e.Omitted {
		if o.Excepted == "" {
			out[policyRule{o.Policy, o.Rule}] = o.Mode
		}
	}
	return out
}

// policiesViolated returns the policies the entry violates.
func (e *Entry) policiesViolated() map[string]bool {
	out := map[string]bool{}
	for pr := range e.rules() {
		out[pr.policy] = true
	}
	return out
}

// modes returns the modes of the policies the entry violates.
func (e *Entry) modes() map[v1alpha1.Mode]bool {
	out := map[v1alpha1.Mode]bool{}
	for _, m := range e.rules() {
		out[m] = true
	}
	return out
}
