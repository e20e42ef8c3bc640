// Package rules holds sealgate's checks, one rule per file, in the manner of pod-security-admission's
// checks: each file declares its rule with Def and registers it, with the code that validates and
// compiles the rule's fields of a policy and the check, a pure function from that compiled config and
// a pod spec to findings. Its fixtures are testdata/<rule ID>.yaml. Nothing else lists the rules:
// policy compilation, the engine, the fixtures and the tests that hold the decoder to what rules read
// all derive from the registry. Rules never walk containers themselves: the Target hands them every
// container, init container, ephemeral container and image with its field path.
package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Rule is one registered check.
type Rule struct {
	// ID is stable and used in messages, JSON output and metric labels: "images.allowedRegistries".
	ID string
	// Name is a short human description.
	Name string
	// Check reports the violations of p in t to out. It must not keep p, t or out.
	Check func(p *policy.Policy, t *Target, out *Findings)
	// Reads names the pod fields the rule reads that the decoder may skip (workload.Skipped); a rule
	// that reads one must say so, and TestRulesReadNoSkippedField holds the decoder to it.
	Reads []string
	// CEL returns the ValidatingAdmissionPolicy validations of the rule under p, nil when p does not
	// enable the rule. It is nil for a rule that cannot be compiled to CEL, and NoCEL says why.
	CEL   func(p *policy.Policy) []CELCheck
	NoCEL string
	// slot is 1 + the rule's config index in a compiled policy (policy.RegisterRule); 0 when the
	// rule compiles nothing.
	slot int
}

// Def declares a rule whose compiled config is a C. Register it with register, from a package
// variable of the rule's file.
type Def[C any] struct {
	ID, Name string
	// Reads: see Rule.Reads.
	Reads []string
	// Compile validates the rule's fields of the defaulted spec, each error with its path under
	// spec, and returns the compiled config, or nil when the policy does not enable the rule. It
	// runs once per policy generation, so that Check parses nothing.
	Compile func(s *v1alpha1.PolicySpec, spec *field.Path) (*C, field.ErrorList)
	// Check reports the violations of the config in t to out. It must not keep t or out.
	Check func(c *C, t *Target, out *Findings)
	// CEL compiles the config to ValidatingAdmissionPolicy validations (cel.go); a rule that cannot
	// be compiled leaves it nil and says why in NoCEL (it needs the network, or state).
	CEL   func(c *C) []CELCheck
	NoCEL string
}

// registered holds every rule declared with register, in declaration order.
var registered []Rule

// register adds a rule to the default registry and its compiler to policy compilation, and returns
// the rule. The policy keeps the compiled config; Check runs only on policies that enable the rule.
func register[C any](d Def[C]) Rule {
	compile := func(s *v1alpha1.PolicySpec, spec *field.Path) (any, field.ErrorList) {
		c, errs := d.Compile(s, spec)
		if c == nil || len(errs) > 0 {
			// A typed nil in an interface would not compare equal to nil.
			return nil, errs
		}
		return c, nil
	}
	r := Rule{ID: d.ID, Name: d.Name, Reads: d.Reads}
	index := policy.RegisterRule(policy.RuleCompiler{ID: d.ID, Compile: compile})
	r.slot = index + 1
	check := d.Check
	r.Check = func(p *policy.Policy, t *Target, out *Findings) {
		if c, ok := p.Config(index).(*C); ok {
			check(c, t, out)
		}
	}
	if d.CEL != nil {
		r.CEL = func(p *policy.Policy) []CELCheck {
			c, ok := p.Config(index).(*C)
			if !ok {
				return nil
			}
			checks := d.CEL(c)
			for i := range checks {
				if checks[i].Rule == "" {
					checks[i].Rule = d.ID
				}
			}
			return checks
		}
	}
	r.NoCEL = d.NoCEL
	registered = append(registered, r)
	return r
}

// config returns the compiled config of rule r in p, nil when p does not enable it.
func config[C any](p *policy.Policy, r *Rule) *C {
	c, _ := p.Config(r.slot - 1).(*C)
	return c
}

// Finding is one violation found by a rule, before the engine adds the policy and mode.
type Finding struct {
	// Rule overrides the rule's ID for rules that wrap a family of checks ("podSecurity.privileged").
	Rule string
	// Path is the field path of the offending field, e.g. "spec.containers[1].securityContext.privileged".
	Path string
	// Container is the name of the container (or image volume) concerned, "" for pod-level fields.
	Container string
	// Message says what was found and what is allowed, in one sentence.
	Message string
}

// Registry is an ordered set of rules with unique IDs.
type Registry struct {
	rules []Rule
}

// NewRegistry checks that every rule has an ID, a name and a function, and that no ID repeats.
func NewRegistry(rules ...Rule) (*Registry, error) {
	seen := make(map[string]bool, len(rules))
	for _, r := range rules {
		if r.ID == "" || r.Name == "" || r.Check == nil {
			return nil, fmt.Errorf("rule %q: id, name and check are required", r.ID)
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("rule %q registered twice", r.ID)
		}
		seen[r.ID] = true
	}
	return &Registry{rules: rules}, nil
}

// Default returns the registry of every registered rule, in ID order, which is the order their
// findings are reported in.
func Default() *Registry {
	rules := slices.Clone(registered)
	slices.SortFunc(rules, func(a, b Rule) int { return strings.Compare(a.ID, b.ID) })
	r, err := NewRegistry(rules...)
	if err != nil {
		// The registered rules are fixed at compile time and a test asserts they are valid.
		panic(err)
	}
	return r
}

// Rules returns the registered rules in order.
func (r *Registry) Rules() []Rule { return r.rules }

// MaxValueBytes bounds each value of the pod quoted in a message (a name, an image, a capability):
// past it the value is cut and marked with "…". The API server bounds most of these fields, but
// `sealgate check` reads unvalidated input, and no valid Kubernetes name or label value is longer.
const MaxValueBytes = 128

// MaxListedValues is how many entries of an offending list a message quotes before "… (N more)".
const MaxListedValues = 3

// found builds the message of a finding: what was found, then what is allowed or how to fix it.
// Every rule words its messages through these helpers so that they read alike.
func found(what, fix string) string {
	return what + "; " + fix
}

// quote renders a value of the pod in a message: quoted, and cut to MaxValueBytes.
func quote(s string) string {
	return strconv.Quote(Truncate(s, MaxValueBytes))
}

// quoteList renders a list of the policy as "a", "b", "c": every entry, each cut by quote. The
// policy's lists are the fix a reader needs in full; a list of the pod goes through entries instead.
func quoteList[S ~string](names []S) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(string(n))
	}
	return strings.Join(q, ", ")
}

// quoteEntries renders a list of the pod as "a", "b", "c", … (N more): at most MaxListedValues
// entries, each cut by quote.
func quoteEntries[S ~string](names []S) string {
	var l entries
	for i, n := range names {
		l.add(i, string(n))
	}
	return l.values()
}

// count renders a number with its noun: "1 capability", "3 capabilities".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Truncate cuts s to at most max bytes, on a rune boundary, ending it with "…" when it cut. The
// mark is counted in max, so the result is never longer than max (max must be at least 3).
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…"
	n := max - len(mark)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + mark
}

// entries gathers the offending entries of one list field of the pod (capabilities.add, sysctls,
// volumes, ...), so that a rule reports them as one finding however long the list: it counts them
// all and keeps only the first few, which are substrings of the pod and cost no copy.
type entries struct {
	n int
	// index is the position of the first entry in its list, for the path when it is the only one.
	index int
	first [MaxListedValues]string
}

func (l *entries) add(index int, value string) {
	if l.n == 0 {
		l.index = index
	}
	if l.n < len(l.first) {
		l.first[l.n] = value
	}
	l.n++
}

// values renders the kept entries quoted, then how many were not shown: "X", "Y", "Z", … (5 more).
func (l *entries) values() string { return l.join(quote) }

// plain renders the kept entries as the rule wrote them (already quoted and bounded), then how many
// were not shown: ports[0].hostPort=80, ports[1].hostPort=443.
func (l *entries) plain() string { return l.join(func(s string) string { return s }) }

// full reports whether the entries shown are all taken, so that a rule formats no more values.
func (l *entries) full() bool { return l.n >= len(l.first) }

func (l *entries) join(render func(string) string) string {
	var b strings.Builder
	for i := 0; i < l.n && i < len(l.first); i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(render(l.first[i]))
	}
	if more := l.n - len(l.first); more > 0 {
		b.WriteString(", … (" + strconv.Itoa(more) + " more)")
	}
	return b.String()
}

// enabled is the config of a rule that needs none: non-nil when on is true.
func enabled(on bool) *struct{} {
	if on {
		return &struct{}{}
	}
	return nil
}

// Enables reports whether the policy enables rule r (compiled a config for it). A rule that compiles
// nothing (made without Def) counts as enabled.
func Enables(p *policy.Policy, r *Rule) bool {
	return r.slot == 0 || p.Config(r.slot-1) != nil
}
