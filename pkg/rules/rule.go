// Package rules holds sealgate's checks: one rule per file, each a pure function from a compiled
// policy and a pod spec to findings. Rules never walk containers themselves: the Target hands them
// every container, init container, ephemeral container and image with its field path.
package rules

import (
	"fmt"
	"strings"

	"github.com/sealgate/sealgate/pkg/policy"
)

// Rule is one registered check.
type Rule struct {
	// ID is stable and used in messages, JSON output and metric labels: "images.allowedRegistries".
	ID string
	// Name is a short human description.
	Name string
	// Check returns the violations of p in t, nil if none. It must not keep t or p.
	Check func(p *policy.Policy, t *Target) []Finding
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

// Default returns the registry of every built-in rule, in the order their findings are reported.
func Default() *Registry {
	r, err := NewRegistry(builtin()...)
	if err != nil {
		// The built-in list is fixed at compile time and a test asserts it is valid.
		panic(err)
	}
	return r
}

// Rules returns the registered rules in order.
func (r *Registry) Rules() []Rule { return r.rules }

// found builds the message of a finding: what was found, then what is allowed or how to fix it.
// Every rule words its messages through this helper so that they read alike.
func found(what, fix string) string {
	return what + "; " + fix
}

// quoteList renders names as "a", "b", "c".
func quoteList[S ~string](names []S) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", string(n))
	}
	return strings.Join(q, ", ")
}
