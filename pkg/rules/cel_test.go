package rules

import "testing"

// TestEveryRuleSaysHowItCompiles holds every registered rule to issue 12: it compiles to CEL, or
// says in NoCEL why it cannot, never both and never neither, so that the compiler can list every
// rule a policy enables as compiled or not with the reason.
func TestEveryRuleSaysHowItCompiles(t *testing.T) {
	for _, r := range Default().Rules() {
		hasCEL, hasReason := r.CEL != nil, r.NoCEL != ""
		switch {
		case hasCEL && hasReason:
			t.Errorf("rule %s has both CEL and NoCEL (%q): it compiles, or says why not, not both", r.ID, r.NoCEL)
		case !hasCEL && !hasReason:
			t.Errorf("rule %s has neither CEL nor NoCEL: give it CEL (Def.CEL), or say in Def.NoCEL why it cannot compile", r.ID)
		}
	}
}
