package vap_test

import (
	"os"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/pkg/rules"
)

// TestDocsListEveryRule: docs/vap.md's "What compiles" table names every registered rule, so a new
// rule cannot land without saying how it reaches the VAP.
func TestDocsListEveryRule(t *testing.T) {
	b, err := os.ReadFile("../../docs/vap.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "## What compiles")
	end := strings.Index(doc, "## How a policy maps")
	if start < 0 || end < start {
		t.Fatal(`docs/vap.md has no "What compiles" section before "How a policy maps"`)
	}
	section := doc[start:end]
	for _, r := range rules.Default().Rules() {
		if !strings.Contains(section, "`"+r.ID+"`") {
			t.Errorf("docs/vap.md's What compiles table does not name rule %s", r.ID)
		}
	}
}
