package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// testReport is the output of `sealgate test`. Its JSON form is documented in docs/cli.md; fields
// are only ever added.
type testReport struct {
	Rows   []testRow `json:"results"`
	Passed int       `json:"passed"`
	Failed int       `json:"failed"`
	// SignaturesSkipped and ImageConfigSkipped say the suites ran offline (no --verify-signatures,
	// no --read-image-configs): rules that need a registry found nothing.
	SignaturesSkipped  bool `json:"signaturesSkipped"`
	ImageConfigSkipped bool `json:"imageConfigSkipped"`
}

// testRow is one object of a test and the verdict expected of it; or an expectation that selects no
// object (Got is empty), or an object no expectation selects (Expected is empty).
type testRow struct {
	Suite string `json:"suite"`
	// File is the suite file.
	File      string `json:"file"`
	Test      string `json:"test"`
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	// Source is where the object was read ("file: document n").
	Source        string   `json:"source,omitempty"`
	Expected      string   `json:"expected,omitempty"`
	ExpectedRules []string `json:"expectedRules"`
	Got           string   `json:"got,omitempty"`
	// ExpectedRules is null when the expectation names no rules, and then they are not compared. Rules
	// are the rule IDs of the object's violations, whatever their mode, waived ones included.
	Rules  []string `json:"rules"`
	Pass   bool     `json:"pass"`
	Reason string   `json:"reason,omitempty"`
}

func (r *testReport) write(w io.Writer, format string) error {
	if format == "json" {
		return writeJSON(w, r)
	}
	_, err := io.WriteString(w, r.text())
	return err
}

// text renders the table, one row per object, then why each failing row failed, then the summary.
func (r *testReport) text() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SUITE\tTEST\tRESOURCE\tEXPECTED\tGOT\tRESULT")
	for _, row := range r.Rows {
		result := "pass"
		if !row.Pass {
			result = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", row.Suite, row.Test, row.resource(),
			orDash(row.Expected, row.ExpectedRules, row.ExpectedRules != nil), orDash(row.Got, row.Rules, row.ExpectedRules != nil), result)
	}
	tw.Flush()
	if r.Failed > 0 {
		b.WriteString("\n")
		for _, row := range r.Rows {
			if !row.Pass {
				fmt.Fprintf(&b, "FAIL %s: %s: %s: %s\n", row.File, row.Test, row.resource(), row.Reason)
			}
		}
	}
	fmt.Fprintf(&b, "\n%d %s: %d passed, %d failed\n", len(r.Rows), plural(len(r.Rows), "result", "results"), r.Passed, r.Failed)
	switch {
	case r.SignaturesSkipped && r.ImageConfigSkipped:
		b.WriteString("offline: signatures were not verified and image configs were not read (--verify-signatures, --read-image-configs)\n")
	case r.SignaturesSkipped:
		b.WriteString("signatures were not verified (--verify-signatures)\n")
	case r.ImageConfigSkipped:
		b.WriteString("image configs were not read (--read-image-configs)\n")
	}
	return b.String()
}

// resource names the row's object as check does, "Kind namespace/name", or its selector.
func (row *testRow) resource() string {
	if row.Kind == "" && row.Name == "" {
		return row.Source
	}
	s := row.Kind
	switch {
	case row.Namespace != "":
		s += " " + row.Namespace + "/" + row.Name
	case row.Name != "":
		s += " " + row.Name // an expectation that names no namespace
	}
	return strings.TrimSpace(s)
}

// orDash renders a verdict, with how many rules when the expectation names rules (the failure
// lines below the table name them), or "-" for none.
func orDash(verdict string, rules []string, withRules bool) string {
	if verdict == "" {
		return "-"
	}
	if !withRules {
		return verdict
	}
	return fmt.Sprintf("%s [%d %s]", verdict, len(rules), plural(len(rules), "rule", "rules"))
}
