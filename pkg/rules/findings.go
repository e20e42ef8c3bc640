package rules

// Findings receives what a rule finds. It keeps the first Limit findings of each rule ID and only
// counts the rest, so that a pod with thousands of offending containers costs memory bounded by
// Limit while every offending field still counts. The engine owns one per evaluation and resets it
// before each rule; a rule only calls Add.
type Findings struct {
	// Limit is how many findings of one rule ID are kept; 0 keeps every finding.
	Limit int

	kept   []Finding
	counts []ruleCount
}

// ruleCount is what Findings knows of one rule ID. A rule reports under a handful of IDs at most
// (podSecurity under one per upstream check), so a slice scanned from the end beats a map.
type ruleCount struct {
	rule          string
	kept, omitted int
}

// Add records one finding: kept while its rule ID is under Limit, otherwise only counted.
func (f *Findings) Add(x Finding) {
	c := f.count(x.Rule)
	if f.Limit > 0 && c.kept >= f.Limit {
		c.omitted++
		return
	}
	c.kept++
	f.kept = append(f.kept, x)
}

func (f *Findings) count(rule string) *ruleCount {
	for i := len(f.counts) - 1; i >= 0; i-- {
		if f.counts[i].rule == rule {
			return &f.counts[i]
		}
	}
	f.counts = append(f.counts, ruleCount{rule: rule})
	return &f.counts[len(f.counts)-1]
}

// Kept returns the findings kept, in the order they were added; nil if none. The slice is reused
// after Reset.
func (f *Findings) Kept() []Finding { return f.kept }

// Omitted calls fn for each rule ID that had findings past Limit, with how many, in the order the
// IDs were first seen. The ID is the finding's Rule: "" for the rule's own ID.
func (f *Findings) Omitted(fn func(rule string, n int)) {
	for _, c := range f.counts {
		if c.omitted > 0 {
			fn(c.rule, c.omitted)
		}
	}
}

// Len is the number of findings added, kept or not.
func (f *Findings) Len() int {
	n := len(f.kept)
	for _, c := range f.counts {
		n += c.omitted
	}
	return n
}

// Reset empties f for the next rule, keeping its memory and its Limit.
func (f *Findings) Reset() {
	clear(f.kept)
	f.kept = f.kept[:0]
	f.counts = f.counts[:0]
}
