package rules

import (
	"testing"

	psapolicy "k8s.io/pod-security-admission/policy"
)

// TestEveryPSSCheckHasCEL: a check upstream adds without CEL here compiles to a validation that
// denies every pod (conservative), so the VAP never admits what it forbids; this test says so first.
func TestEveryPSSCheckHasCEL(t *testing.T) {
	for _, chk := range psapolicy.DefaultChecks() {
		if pssCELChecks[chk.ID] == nil {
			t.Errorf("upstream check %s has no CEL (pssCELChecks)", chk.ID)
		}
	}
}
