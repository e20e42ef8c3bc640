package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

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
	// Excluded lists the objects in namespaces the webhook excludes, not evaluated (check_verdict.go).
	Excluded []excludedObject `json:"excluded,omitempty"`
}

type result struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Namespace  string             `json:"namespace"`
	Name       string             `json:"name"`
	Source     string             `json:"source"`
	Allowed    bool               `json:"allowed"`
	Policies   []string           `json:"policies"`
	Violations []engine.Violation `json:"violations"`
	// OmittedViolations counts the violations found beyond the engine's limits (pkg/engine/limits.go)
	// and not listed; they count toward allowed like the listed ones.
	OmittedViolations int `json:"omittedViolations"`
	// Operation is the admission operation evaluated, with --operation UPDATE: UPDATE, or CREATE for
	// an object not in --old. Note says why an object was admitted unevaluated.
	Operation string `json:"operation,omitempty"`
	Note      string `json:"note,omitempty"`

	// omitted counts them per mode, for the summary line; an exception waives omittedExcepted of them.
	omitted         map[v1alpha1.Mode]int
	omittedExcepted int
}

// objectName is the object's name, or its generateName followed by *.
func objectName(w *workload.Workload) string {
	if w.Object.Name == "" && w.Object.GenerateName != "" {
		return w.Object.GenerateName + "*"
	}
	return w.Object.Name
}

func (r *report) add(d *manifest.Document, w *workload.Workload, namespace string, res *engine.Result) *result {
	out := result{APIVersion: d.APIVersion, Kind: d.Kind, Namespace: namespace, Name: objectName(w), Source: d.Where(),
		Allowed: res.Allowed(), Policies: res.Matched, Violations: res.Violations, OmittedViolations: res.OmittedCount("")}
	if out.OmittedViolations > 0 {
		out.omitted = map[v1alpha1.Mode]int{}
		for _, o := range res.Omitted {
			if o.Excepted != "" {
				out.omittedExcepted += o.Count
				continue
			}
			out.omitted[o.Mode] += o.Count
		}
	}
	if out.Policies == nil {
		out.Policies = []string{}
	}
	if out.Violations == nil {
		out.Violations = []engine.Violation{}
	}
	r.Results = append(r.Results, out)
	return &r.Results[len(r.Results)-1]
}

func (r *report) allowed() bool {
	for _, res := range r.Results {
		if !res.Allowed {
			return false
		}
	}
	return true
}

func (r *report) write(w io.Writer, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	}
	_, err := io.WriteString(w, r.text())
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

// text renders one block per object: a verdict line, then one line per violation, then how many
// violations are not listed, if any.
func (r *report) text() string {
	var b strings.Builder
	var admitted, denied, enforce, warn, audit, excepted int
	for _, res := range r.Results {
		verdict := "ADMITTED"
		if res.Allowed {
			admitted++
		} else {
			verdict = "DENIED"
			denied++
		}
		fmt.Fprintf(&b, "%s %s/%s: %s  (%s)\n", res.Kind, res.Namespace, res.Name, verdict, res.Source)
		if res.Note != "" {
			fmt.Fprintf(&b, "  note   %s\n", res.Note)
		}
		for _, v := range res.Violations {
			switch {
			case v.Excepted != "":
				excepted++
			case v.Mode == v1alpha1.ModeEnforce:
				enforce++
			case v.Mode == v1alpha1.ModeWarn:
				warn++
			default:
				audit++
			}
			fmt.Fprintf(&b, "  %s  %s\n", label(&v), v.String())
		}
		if n := res.OmittedViolations; n > 0 {
			enforce += res.omitted[v1alpha1.ModeEnforce]
			warn += res.omitted[v1alpha1.ModeWarn]
			audit += res.omitted[v1alpha1.ModeAudit]
			excepted += res.omittedExcepted
			fmt.Fprintf(&b, "  …      %d more %s not shown\n", n, plural(n, "violation", "violations"))
		}
	}
	if len(r.Results) > 0 {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%d %s checked: %d admitted, %d denied; violations: %d enforced, %d warned, %d audited",
		len(r.Results), plural(len(r.Results), "object", "objects"), admitted, denied, enforce, warn, audit)
	if r.Exceptions > 0 || excepted > 0 {
		fmt.Fprintf(&b, ", %d excepted (%d %s read)", excepted, r.Exceptions, plural(r.Exceptions, "exception", "exceptions"))
	}
	if r.Skipped > 0 {
		fmt.Fprintf(&b, "; %d other %s skipped", r.Skipped, plural(r.Skipped, "object", "objects"))
	}
	b.WriteString("\n")
	b.WriteString(r.excludedText())
	if r.SignaturesSkipped {
		b.WriteString("signatures were not verified (--skip-signatures)\n")
	}
	if r.ImageConfigSkipped {
		b.WriteString("image configs were not read (--skip-image-config)\n")
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
