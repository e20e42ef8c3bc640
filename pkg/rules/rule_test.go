package rules

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/workload"
)

func TestNewRegistryRejects(t *testing.T) {
	check := func(*policy.Policy, *Target, *Findings) {}
	ok := Rule{ID: "a.b", Name: "A b", Check: check}
	for _, tc := range []struct {
		name  string
		rules []Rule
		want  string
	}{
		{"duplicate ID", []Rule{ok, {ID: "c.d", Name: "C", Check: check}, ok}, `rule "a.b" registered twice`},
		{"missing ID", []Rule{ok, {Name: "X", Check: check}}, "id, name and check are required"},
		{"missing name", []Rule{{ID: "x.y", Check: check}}, "id, name and check are required"},
		{"missing check", []Rule{{ID: "x.y", Name: "X"}}, "id, name and check are required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRegistry(tc.rules...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewRegistry = %v, %v; want an error containing %q", r, err, tc.want)
			}
		})
	}
	if _, err := NewRegistry(ok); err != nil {
		t.Errorf("NewRegistry(valid rule) = %v", err)
	}
}

func TestDefaultRegistry(t *testing.T) {
	id := regexp.MustCompile(`^[a-z][A-Za-z]*\.[a-z][A-Za-z]*$`)
	rules := Default().Rules()
	if len(rules) != len(registered) || len(rules) < 15 {
		t.Fatalf("Default has %d rules, %d are registered", len(rules), len(registered))
	}
	if !slices.IsSortedFunc(rules, func(a, b Rule) int { return strings.Compare(a.ID, b.ID) }) {
		t.Errorf("Default's rules are not in ID order")
	}
	seen := map[string]bool{}
	for _, r := range rules {
		if seen[r.ID] {
			t.Errorf("rule %q registered twice", r.ID)
		}
		seen[r.ID] = true
		if r.ID != "podSecurity" && !id.MatchString(r.ID) {
			t.Errorf("rule ID %q does not match %s", r.ID, id)
		}
		if r.Name == "" || r.Check == nil {
			t.Errorf("rule %q lacks a name or a check", r.ID)
		}
	}
}

// TestRulesReadNoSkippedField: a rule that reads a field the decoder skips would see it empty.
func TestRulesReadNoSkippedField(t *testing.T) {
	for _, r := range Default().Rules() {
		for _, f := range r.Reads {
			if slices.Contains(workload.Skipped, f) {
				t.Errorf("rule %q reads %q, which pkg/workload skips: stop skipping it in skip.go and fast_pod.go", r.ID, f)
			}
		}
	}
}

// TestDocsListEveryRule: docs/policy.md's "Rule IDs" table has a row for every registered rule.
func TestDocsListEveryRule(t *testing.T) {
	b, err := os.ReadFile("../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Default().Rules() {
		id := r.ID
		if id == "podSecurity" {
			id = "podSecurity.<checkID>"
		}
		if !strings.Contains(string(b), "\n| `"+id+"` |") {
			t.Errorf("docs/policy.md's Rule IDs table has no row for %q", id)
		}
	}
}
