package cli

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
)

// checkSummary is the report's totals: what the text output opens with, and the JSON's "summary".
type checkSummary struct {
	Objects  int `json:"objects"`
	Admitted int `json:"admitted"`
	Denied   int `json:"denied"`
	Skipped  int `json:"skipped"`
	// Violations counts every violation, listed or omitted, by what it does.
	Violations violationCounts `json:"violations"`
	Kinds      []kindCount     `json:"kinds"`
	// Rules counts violations by policy and rule (a field several rules flag counts under the
	// first), most violations first.
	Rules      []ruleCount      `json:"rules"`
	Namespaces []namespaceCount `json:"namespaces"`
}

type violationCounts struct {
	Enforced int `json:"enforced"`
	Warned   int `json:"warned"`
	Audited  int `json:"audited"`
	// Excepted counts the violations a PolicyException waives, whatever their mode.
	Excepted int `json:"excepted"`
}

type kindCount struct {
	Kind     string `json:"kind"`
	Objects  int    `json:"objects"`
	Admitted int    `json:"admitted"`
	Denied   int    `json:"denied"`
}

type ruleCount struct {
	Policy string        `json:"policy"`
	Rule   string        `json:"rule"`
	Mode   v1alpha1.Mode `json:"mode"`
	// Violations counts those no exception waives, Excepted those one does; Objects the objects
	// with either.
	Violations int `json:"violations"`
	Excepted   int `json:"excepted"`
	Objects    int `json:"objects"`
}

type namespaceCount struct {
	Namespace string `json:"namespace"`
	Objects   int    `json:"objects"`
	Denied    int    `json:"denied"`
	// Violations counts the violations no exception waives.
	Violations int `json:"violations"`
}

// add counts one violation (or n omitted ones) of a mode, waived or not.
func (c *violationCounts) add(m v1alpha1.Mode, excepted bool, n int) {
	switch {
	case excepted:
		c.Excepted += n
	case m == v1alpha1.ModeEnforce:
		c.Enforced += n
	case m == v1alpha1.ModeWarn:
		c.Warned += n
	default:
		c.Audited += n
	}
}

func (c *violationCounts) decisive() int { return c.Enforced + c.Warned + c.Audited }

// counts returns the result's violations, listed and omitted, by what they do.
func (res *result) counts() violationCounts {
	var c violationCounts
	for i := range res.Violations {
		c.add(res.Violations[i].Mode, res.Violations[i].Excepted != "", 1)
	}
	for _, o := range res.omissions {
		c.add(o.Mode, o.Excepted != "", o.Count)
	}
	return c
}

// summarize counts the report's results.
func (r *report) summarize() *checkSummary {
	s := &checkSummary{Skipped: r.Skipped, Kinds: []kindCount{}, Rules: []ruleCount{}, Namespaces: []namespaceCount{}}
	kinds := map[string]*kindCount{}
	namespaces := map[string]*namespaceCount{}
	type ruleKey struct {
		policy, rule string
		mode         v1alpha1.Mode
	}
	rules := map[ruleKey]*ruleCount{}
	for i := range r.Results {
		res := &r.Results[i]
		s.Objects++
		k := kinds[res.Kind]
		if k == nil {
			k = &kindCount{Kind: res.Kind}
			kinds[res.Kind] = k
		}
		ns := namespaces[res.Namespace]
		if ns == nil {
			ns = &namespaceCount{Namespace: res.Namespace}
			namespaces[res.Namespace] = ns
		}
		k.Objects++
		ns.Objects++
		if res.Allowed {
			s.Admitted++
			k.Admitted++
		} else {
			s.Denied++
			k.Denied++
			ns.Denied++
		}
		c := res.counts()
		s.Violations.Enforced += c.Enforced
		s.Violations.Warned += c.Warned
		s.Violations.Audited += c.Audited
		s.Violations.Excepted += c.Excepted
		ns.Violations += c.decisive()
		seen := map[ruleKey]bool{}
		count := func(policy, rule string, mode v1alpha1.Mode, excepted bool, n int) {
			key := ruleKey{policy, rule, mode}
			rc := rules[key]
			if rc == nil {
				rc = &ruleCount{Policy: policy, Rule: rule, Mode: mode}
				rules[key] = rc
			}
			if excepted {
				rc.Excepted += n
			} else {
				rc.Violations += n
			}
			if !seen[key] {
				seen[key] = true
				rc.Objects++
			}
		}
		for _, v := range res.Violations {
			count(v.Policy, v.Rule, v.Mode, v.Excepted != "", 1)
		}
		for _, o := range res.omissions {
			count(o.Policy, o.Rule, o.Mode, o.Excepted != "", o.Count)
		}
	}
	for _, k := range kinds {
		s.Kinds = append(s.Kinds, *k)
	}
	slices.SortFunc(s.Kinds, func(a, b kindCount) int { return strings.Compare(a.Kind, b.Kind) })
	for _, rc := range rules {
		s.Rules = append(s.Rules, *rc)
	}
	slices.SortFunc(s.Rules, func(a, b ruleCount) int {
		return cmp.Or(cmp.Compare(severityRank(a.Mode, a.Violations == 0), severityRank(b.Mode, b.Violations == 0)),
			cmp.Compare(b.Violations, a.Violations), cmp.Compare(b.Excepted, a.Excepted),
			strings.Compare(a.Policy, b.Policy), strings.Compare(a.Rule, b.Rule))
	})
	for _, ns := range namespaces {
		s.Namespaces = append(s.Namespaces, *ns)
	}
	slices.SortFunc(s.Namespaces, func(a, b namespaceCount) int {
		return cmp.Or(cmp.Compare(b.Denied, a.Denied), cmp.Compare(b.Violations, a.Violations), strings.Compare(a.Namespace, b.Namespace))
	})
	return s
}

// severityRank orders modes by what they do: deny, warn, audit, then waived.
func severityRank(m v1alpha1.Mode, waived bool) int {
	switch {
	case waived:
		return 3
	case m == v1alpha1.ModeEnforce:
		return 0
	case m == v1alpha1.ModeWarn:
		return 1
	}
	return 2
}

// maxWorst is how many namespaces and objects the summary names as the worst.
const maxWorst = 5

// summaryText renders the summary the text output opens with.
func (r *report) summaryText(b *strings.Builder) {
	s := r.Summary
	fmt.Fprintf(b, "Summary: %d %s checked, %d admitted, %d denied; %d skipped\n",
		s.Objects, plural(s.Objects, "object", "objects"), s.Admitted, s.Denied, s.Skipped)
	if len(s.Kinds) > 0 {
		rows := [][]string{{"  kind", "checked", "admitted", "denied"}}
		for _, k := range s.Kinds {
			rows = append(rows, []string{"  " + k.Kind, fmt.Sprint(k.Objects), fmt.Sprint(k.Admitted), fmt.Sprint(k.Denied)})
		}
		writeTable(b, rows, 1, 2, 3)
	}
	if len(r.SkippedKinds) > 0 {
		names := make([]string, 0, len(r.SkippedKinds))
		for k := range r.SkippedKinds {
			names = append(names, k)
		}
		slices.Sort(names)
		parts := make([]string, len(names))
		for i, k := range names {
			parts[i] = fmt.Sprintf("%s %d", k, r.SkippedKinds[k])
		}
		fmt.Fprintf(b, "  skipped (not pod-bearing): %s\n", strings.Join(parts, ", "))
	}
	v := s.Violations
	fmt.Fprintf(b, "Violations: %d enforced, %d warned, %d audited, %d excepted\n", v.Enforced, v.Warned, v.Audited, v.Excepted)
	if len(s.Rules) > 0 {
		rows := [][]string{{"  mode", "violations", "objects", "policy/rule"}}
		for _, rc := range s.Rules {
			label, n := strings.TrimSpace(modeLabel[rc.Mode]), rc.Violations
			if n == 0 {
				label, n = waivedLabel, rc.Excepted
			}
			rows = append(rows, []string{"  " + label, fmt.Sprint(n), fmt.Sprint(rc.Objects), rc.Policy + "/" + rc.Rule})
		}
		writeTable(b, rows, 1, 2)
	}
	var worstNS []string
	for _, ns := range s.Namespaces {
		if len(worstNS) == maxWorst || ns.Violations == 0 {
			break
		}
		worstNS = append(worstNS, fmt.Sprintf("%s (%d of %d denied, %d %s)", ns.Namespace, ns.Denied, ns.Objects,
			ns.Violations, plural(ns.Violations, "violation", "violations")))
	}
	if len(worstNS) > 0 {
		fmt.Fprintf(b, "Worst namespaces: %s\n", strings.Join(worstNS, ", "))
	}
	if worst := r.worstObjects(); len(worst) > 0 {
		b.WriteString("Worst objects:\n")
		for _, res := range worst {
			c := res.counts()
			fmt.Fprintf(b, "  %s %s/%s: %s, %d enforced, %d warned, %d audited  (%s)\n", res.Kind, res.Namespace, res.Name,
				verdict(res.Allowed), c.Enforced, c.Warned, c.Audited, res.location())
		}
	}
}

// worstObjects returns up to maxWorst results with violations that are not waived, the most
// enforced first, then warned, then audited.
func (r *report) worstObjects() []*result {
	var out []*result
	counts := map[*result]violationCounts{}
	for i := range r.Results {
		res := &r.Results[i]
		if c := res.counts(); c.decisive() > 0 {
			counts[res] = c
			out = append(out, res)
		}
	}
	slices.SortStableFunc(out, func(a, b *result) int {
		ca, cb := counts[a], counts[b]
		return cmp.Or(cmp.Compare(cb.Enforced, ca.Enforced), cmp.Compare(cb.Warned, ca.Warned), cmp.Compare(cb.Audited, ca.Audited))
	})
	if len(out) > maxWorst {
		out = out[:maxWorst]
	}
	return out
}

func verdict(allowed bool) string {
	if allowed {
		return "ADMITTED"
	}
	return "DENIED"
}

// location is where the result's object is: "file:line" when the line is known, else its source.
func (res *result) location() string {
	if res.Line > 0 {
		return fmt.Sprintf("%s:%d", res.File, res.Line)
	}
	return res.Source
}

// writeTable writes rows with columns padded to their widest cell; the columns listed in right are
// aligned right.
func writeTable(b *strings.Builder, rows [][]string, right ...int) {
	width := map[int]int{}
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, row := range rows {
		var line strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			switch {
			case slices.Contains(right, i):
				line.WriteString(pad + c)
			case i == len(row)-1:
				line.WriteString(c)
			default:
				line.WriteString(c + pad)
			}
			if i < len(row)-1 {
				line.WriteString("  ")
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// findingGroup is one line of the grouped detail: violations of one policy rule, in one mode,
// that say the same apart from the container's name.
type findingGroup struct {
	label, rules, message, excepted string
	rank                            int
	messages                        map[string]bool
	objects                         map[*result]bool
	items                           []groupItem
}

type groupItem struct {
	res *result
	v   *engine.Violation
}

// maxGroupObjects is how many objects a group of the grouped detail lists.
const maxGroupObjects = 3

// groups groups the report's violations by label, policy, rules and message, with the container's
// quoted name left out of the message; the groups that deny come first, then the largest.
func (r *report) groups() []*findingGroup {
	byKey := map[string]*findingGroup{}
	var out []*findingGroup
	for i := range r.Results {
		res := &r.Results[i]
		for j := range res.Violations {
			v := &res.Violations[j]
			msg := v.Message
			if v.Container != "" {
				msg = strings.Replace(msg, fmt.Sprintf("%q", v.Container), `"…"`, 1)
			}
			l := label(v)
			if v.Excepted != "" {
				l += " (excepted by " + v.Excepted + ")"
			}
			key := l + "\x00" + v.Policy + "/" + v.RuleList() + "\x00" + msg
			g := byKey[key]
			if g == nil {
				g = &findingGroup{label: label(v), rules: v.Policy + "/" + v.RuleList(), message: msg,
					rank: severityRank(v.Mode, v.Excepted != ""), messages: map[string]bool{}, objects: map[*result]bool{}}
				if v.Excepted != "" {
					g.excepted = " (excepted by " + v.Excepted + ")"
				}
				byKey[key] = g
				out = append(out, g)
			}
			g.messages[v.Message] = true
			g.objects[res] = true
			g.items = append(g.items, groupItem{res, v})
		}
	}
	slices.SortStableFunc(out, func(a, b *findingGroup) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(len(b.objects), len(a.objects)))
	})
	return out
}

// groupedText renders the detail with identical findings grouped: a line per group, then the first
// objects that have it.
func (r *report) groupedText(b *strings.Builder) {
	groups := r.groups()
	if len(groups) == 0 {
		return
	}
	b.WriteString("\nFindings (grouped; --detail=full lists every finding by object):\n")
	for _, g := range groups {
		msg := g.message
		if len(g.messages) == 1 {
			// Every object says the same, container name included: show it as it is.
			for m := range g.messages {
				msg = m
			}
		}
		n := len(g.objects)
		fmt.Fprintf(b, "%s  %d %s: %s [%s]%s\n", g.label, n, plural(n, "object", "objects"), msg, g.rules, g.excepted)
		shown := min(len(g.items), maxGroupObjects)
		for _, it := range g.items[:shown] {
			fmt.Fprintf(b, "         %s %s/%s: %s  (%s)\n", it.res.Kind, it.res.Namespace, it.res.Name, it.v.Path, it.res.location())
		}
		if rest := len(g.items) - shown; rest > 0 {
			fmt.Fprintf(b, "         … and %d more\n", rest)
		}
	}
}
