package policy

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

// RuleCompiler compiles one rule's part of a policy spec. Package rules registers one for every
// rule, so that Compile validates and compiles each rule's fields with the rule itself, and a new
// rule needs no edit here.
type RuleCompiler struct {
	// ID is the rule's ID, for errors.
	ID string
	// Compile validates the rule's fields of the defaulted spec, with paths under spec, and returns
	// its compiled config: nil when the policy does not enable the rule.
	Compile func(s *v1alpha1.PolicySpec, spec *field.Path) (any, field.ErrorList)
}

// compilers are the registered rules' compilers, by index. They are registered while packages
// initialize and only read afterwards.
var compilers []RuleCompiler

// RegisterRule adds a rule's compiler and returns the index of its config (Config). It is meant to
// be called while package rules initializes; registering an ID twice panics.
func RegisterRule(c RuleCompiler) int {
	for _, have := range compilers {
		if have.ID == c.ID {
			panic(fmt.Sprintf("policy: rule %q registered twice", c.ID))
		}
	}
	compilers = append(compilers, c)
	return len(compilers) - 1
}

// Config returns the compiled config of the rule registered at index i, or nil when the policy does
// not enable that rule.
func (p *Policy) Config(i int) any {
	if i < 0 || i >= len(p.configs) {
		return nil
	}
	return p.configs[i]
}
