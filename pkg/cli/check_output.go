package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/manifest"
	"github.com/sealgate/sealgate/pkg/workload"
)

// report is the output of `sealgate check`. Its JSON form is documented in docs/cli.md; fields are
// only ever added.
type report struct {
	Results           []result `json:"results"`
	Skipped           int      `json:"skippedObjects"`
	SignaturesSkipped bool     `json:"signaturesSkipped"`
	// ImageConfigSkipped says image configs were not read (--skip-image-config).
	ImageConfigSkipped bool `json:"imageConfigSkipped"`
	// Exceptions counts the PolicyExceptions read.
	Exceptions int `json:"exceptions"`
	// Summary counts the results by kind, verdict, policy and rule, and namespace; filled by write.
	Summary *checkSummary `json:"summary"`
	// Errors are the files and objects that could not be read (--continue-on-error), and those
	// --strict-kinds refuses.
	Errors []inputError `json:"errors,omitempty"`
	// SkippedKinds counts the skipped objects by kind ("ConfigMap", "example.com/Widget").
	SkippedKinds map[string]int `json:"skippedKinds,omitempty"`
	// Excluded lists the objects in namespaces the webhook excludes, not evaluated (check_verdict.go).
	Excluded []excludedObject `json:"excluded,omitempty"`
}

// objectRef names an object of the input and says where it is.
type objectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Source     string `json:"source"`
	// File, Document, Line and Column locate the object: Document is 1-based in File, Line and
	// Column where it starts (0, and omitted, when not known).
	File     string `json:"file"`
	Document int    `json:"document"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
}

// refOf is the objectRef of the object w decoded from d, in namespace.
func refOf(d *manifest.Document, w *workload.Workload, namespace string) objectRef {
	return objectRef{APIVersion: d.APIVersion, Kind: d.Kind, Namespace: namespace, Name: objectName(w), Source: d.Where(),
		File: d.Source, Document: d.Index, Line: d.Line, Column: d.Column}
}

type result struct {
	objectRef
	Allowed    bool               `json:"allowed"`
	Policies   []string           `json:"policies"`
	Violations []engine.Violation `json:"violations"`
	// Notes say what else is wrong with the object: an API version the API server no longer serves.
	Notes []string `json:"notes,omitempty"`
	// OmittedViolations counts the violations found beyond the engine's limits (pkg/engine/limits.go)
	// and not listed; they count toward allowed like the listed ones.
	OmittedViolations int `json:"omittedViolations"`
	// Operation is the admission operation evaluated, with --operation UPDATE: UPDATE, or CREATE for
	// an object not in --old (check_verdict.go).
	Operation string `json:"operation,omitempty"`

	// omissions are the engine's omitted violations per policy and rule, for the summary.
	omissions []engine.Omission
}

func (r *report) add(d *manifest.Document, w *workload.Workload, namespace string, res *engine.Result) {
	out := result{objectRef: refOf(d, w, namespace), Allowed: res.Allowed(), Policies: res.Matched, Violations: res.Violations, OmittedViolations: res.OmittedCount("")}
	out.omissions = res.Omitted
	if len(w.Unjudged) > 0 {
		out.Notes = append(out.Notes, workload.UnjudgedNote(w))
	}
	if out.Policies == nil {
		out.Policies = []string{}
	}
	if out.Violations == nil {
		out.Violations = []engine.Violation{}
	}
	r.Results = append(r.Results, out)
}

// note adds a note to the last result.
func (r *report) note(n string) {
	if n != "" {
		last := &r.Results[len(r.Results)-1]
		last.Notes = append(last.Notes, n)
	}
}

func (r *report) allowed() bool {
	for _, res := range r.Results {
		if !res.Allowed {
			return false
		}
	}
	return true
}

// checkOutputOptions are the flags of `sealgate check` that choose its output and exit status.
type checkOutputOptions struct {
	Output string
	Detail string
	FailOn string
}

// checkFormats are the values of -o.
var checkFormats = []string{"text", "json", "yaml", "sarif", "junit", "github", "report", "table"}

func (o *checkOutputOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.Output, "output", "o", "text", "output format: "+strings.Join(checkFormats, ", "))
	fs.StringVar(&o.Detail, "detail", "grouped", "text detail after the summary: summary (none), grouped (identical findings once, with the first objects), full (every finding by object)")
	fs.StringVar(&o.FailOn, "fail-on", "enforce", "exit 1 on a violation of this mode or a stricter one: enforce, warn or audit (waived violations never fail)")
}

func (o *checkOutputOptions) Validate() error {
	var errs []error
	if !slices.Contains(checkFormats, o.Output) {
		errs = append(errs, fmt.Errorf("-o %q: want one of %s", o.Output, strings.Join(checkFormats, ", ")))
	}
	if !slices.Contains([]string{"summary", "grouped", "full"}, o.Detail) {
		errs = append(errs, fmt.Errorf("--detail %q: want summary, grouped or full", o.Detail))
	}
	if !slices.Contains([]string{"enforce", "warn", "audit"}, o.FailOn) {
		errs = append(errs, fmt.Errorf("--fail-on %q: want enforce, warn or audit", o.FailOn))
	}
	return errors.Join(errs...)
}

// fails reports whether the exit status is 1: an object is denied, or, with --fail-on warn or
// audit, a violation of that mode (or a stricter one) that no exception waives exists.
func (r *report) fails(failOn string) bool {
	if !r.allowed() {
		return true
	}
	for i := range r.Results {
		c := r.Results[i].counts()
		if failOn == "audit" && c.Audited > 0 || failOn != "enforce" && c.Warned > 0 {
			return true
		}
	}
	return false
}

// write renders the report in the format o names.
func (r *report) write(w io.Writer, o *checkOutputOptions) error {
	r.Summary = r.summarize()
	switch o.Output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	case "yaml":
		out, err := yaml.Marshal(r)
		if err != nil {
			return fmt.Errorf("rendering yaml: %w", err)
		}
		_, err = w.Write(out)
		return err
	case "sarif":
		return r.writeSARIF(w)
	case "junit":
		return r.writeJUnit(w, o.FailOn)
	case "github":
		_, err := io.WriteString(w, r.github())
		return err
	case "report":
		return r.writeReports(w, time.Now())
	case "table":
		_, err := io.WriteString(w, r.table())
		return err
	}
	_, err := io.WriteString(w, r.text(o.Detail))
	return err
}

var modeLabel = map[v1alpha1.Mode]string{v1alpha1.ModeEnforce: "deny ", v1alpha1.ModeWarn: "warn ", v1alpha1.ModeAudit: "audit"}

// waivedLabel is the label of a violation an exception waives, whatever its mode; its line ends
// with "(excepted by namespace/name)".
const waivedLabel = "waive"

// label is the text output's label of a violation.
func label(v *engine.Violation) string {
	if v.Excepted != "" {
		return waivedLabel
	}
	return modeLabel[v.Mode]
}

// text renders the summary, then the detail: none, grouped findings, or, in full, one block per
// object (a verdict line, a line per violation, and how many are not listed), then a closing line.
func (r *report) text(detail string) string {
	var b strings.Builder
	r.summaryText(&b)
	if detail != "full" {
		// The full detail prints each object's notes under it.
		r.notesText(&b)
	}
	switch detail {
	case "grouped":
		r.groupedText(&b)
	case "full":
		b.WriteString("\n")
		r.fullText(&b)
	}
	b.WriteString("\n")
	r.closingText(&b)
	return b.String()
}

// notesText lists the objects with notes (a removed API version, ...), one line each.
func (r *report) notesText(b *strings.Builder) {
	first := true
	for _, res := range r.Results {
		for _, n := range res.Notes {
			if first {
				b.WriteString("Notes:\n")
				first = false
			}
			fmt.Fprintf(b, "  %s %s/%s: %s  (%s)\n", res.Kind, res.Namespace, res.Name, n, res.location())
		}
	}
}

// fullText renders one block per object.
func (r *report) fullText(b *strings.Builder) {
	for _, res := range r.Results {
		fmt.Fprintf(b, "%s %s/%s: %s  (%s)\n", res.Kind, res.Namespace, res.Name, verdict(res.Allowed), res.location())
		for _, n := range res.Notes {
			fmt.Fprintf(b, "  note   %s\n", n)
		}
		for _, v := range res.Violations {
			fmt.Fprintf(b, "  %s  %s\n", label(&v), v.String())
		}
		if n := res.OmittedViolations; n > 0 {
			fmt.Fprintf(b, "  …      %d more %s not shown\n", n, plural(n, "violation", "violations"))
		}
	}
}

// closingText renders the closing line: the verdicts and violations counted, and what was skipped,
// after the input errors, if any.
func (r *report) closingText(b *strings.Builder) {
	r.inputText(b)
	s := r.Summary
	admitted, denied := s.Admitted, s.Denied
	enforce, warn, audit, excepted := s.Violations.Enforced, s.Violations.Warned, s.Violations.Audited, s.Violations.Excepted
	fmt.Fprintf(b, "%d %s checked: %d admitted, %d denied; violations: %d enforced, %d warned, %d audited",
		len(r.Results), plural(len(r.Results), "object", "objects"), admitted, denied, enforce, warn, audit)
	if r.Exceptions > 0 || excepted > 0 {
		fmt.Fprintf(b, ", %d excepted (%d %s read)", excepted, r.Exceptions, plural(r.Exceptions, "exception", "exceptions"))
	}
	if r.Skipped > 0 {
		fmt.Fprintf(b, "; %d other %s skipped (%s)", r.Skipped, plural(r.Skipped, "object", "objects"), skippedList(r.SkippedKinds))
	}
	b.WriteString("\n")
	if r.SignaturesSkipped {
		b.WriteString("signatures were not verified (--skip-signatures)\n")
	}
	if r.ImageConfigSkipped {
		b.WriteString("image configs were not read (--skip-image-config)\n")
	}
	b.WriteString(r.excludedText())
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
