package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/policy"
)

// auditOutput is the output of `sealgate audit`. Its JSON form is check's (results, each with the
// fields of a check result, and signaturesSkipped) plus the pods of each result, the totals by
// policy, rule and namespace, and how the audit ran. Fields are only ever added.
type auditOutput struct {
	Results           []*audit.Entry `json:"results"`
	Summary           *audit.Summary `json:"summary"`
	SkippedObjects    int            `json:"skippedObjects"`
	SignaturesSkipped bool           `json:"signaturesSkipped"`
	AsEnforce         bool           `json:"asEnforce"`
	// ImageConfigSkipped says image configs were not read (--skip-image-config).
	ImageConfigSkipped bool `json:"imageConfigSkipped"`
	// PolicySource is "cluster" (the policies in force) or "files" (--policy).
	PolicySource string `json:"policySource"`
	// ExceptionSource is "cluster", "files" (the cluster's could not be listed) or "cluster and
	// files"; Exceptions counts the PolicyExceptions applied.
	ExceptionSource string `json:"exceptionSource"`
	Exceptions      int    `json:"exceptions"`
	// Scope says where the webhook's namespace and object selectors came from.
	Scope string `json:"scope"`
	// Listed counts the objects listed, and APIRequests the requests made to list them.
	Listed      int   `json:"listed"`
	APIRequests int64 `json:"apiRequests"`

	policies []*policy.Policy
	result   *audit.Result
	started  time.Time
}

func (o *auditOutput) allowed() bool {
	for _, e := range o.Results {
		if !e.Allowed {
			return false
		}
	}
	return true
}

func (o *auditOutput) write(w io.Writer, format, reportAPI string) error {
	if o.Results == nil {
		o.Results = []*audit.Entry{}
	}
	o.SkippedObjects = o.Summary.OutOfScope + o.Summary.Skipped
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(o)
	case "report":
		return o.reports(w, reportAPI)
	}
	_, err := io.WriteString(w, o.text())
	return err
}

// reports writes the report objects the background audit would write, as a YAML stream: a Report
// per namespace, then the ClusterReport.
func (o *auditOutput) reports(w io.Writer, api string) error {
	now := o.started
	var objs []runtime.Object
	for _, nt := range o.namespaceNames() {
		if r := audit.NamespaceReport(o.result.Namespaces[nt], now); r != nil {
			objs = append(objs, r)
		}
	}
	objs = append(objs, audit.SummaryReport(o.Summary, o.policies, now))
	for i, obj := range objs {
		var v any = obj
		if api == audit.APIPolicyWG {
			u, err := audit.ToPolicyWG(obj)
			if err != nil {
				return err
			}
			v = u.Object
		}
		data, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}

func (o *auditOutput) namespaceNames() []string {
	names := make([]string, 0, len(o.result.Namespaces))
	for name, ns := range o.result.Namespaces {
		if ns.InScope {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

var modeRank = map[v1alpha1.Mode]int{v1alpha1.ModeEnforce: 0, v1alpha1.ModeWarn: 1, v1alpha1.ModeAudit: 2}

// text renders, first, each policy that running objects violate, with its rules, counts and worst
// namespaces; then the namespaces, worst first; then each object with its field paths; then a
// summary line.
func (o *auditOutput) text() string {
	var b strings.Builder
	s := o.Summary
	for _, pt := range s.Policies {
		fmt.Fprintf(&b, "Policy %s (%s) %s %s\n", pt.Policy, pt.Mode, audit.Verb(pt.Mode), audit.DescribeTotals(pt.Totals, 5))
		for _, rt := range pt.Rules {
			fmt.Fprintf(&b, "  %-40s %s\n", rt.Rule, audit.DescribeTotals(rt.Totals, 3))
		}
	}
	for _, xt := range s.Exceptions {
		fmt.Fprintf(&b, "PolicyException %s waives %s/%s on %s\n", xt.Exception, xt.Policy, xt.Rule, audit.DescribeTotals(xt.Totals, 5))
	}
	if len(s.Policies) > 0 || len(s.Exceptions) > 0 {
		b.WriteString("\nNamespaces, worst first:\n")
		for _, nt := range s.Namespaces {
			if nt.Denied+nt.Warned+nt.Audited+nt.Excepted == 0 {
				continue
			}
			fmt.Fprintf(&b, "  %-30s %d denied, %d warned, %d audited", nt.Namespace, nt.Denied, nt.Warned, nt.Audited)
			if nt.Excepted > 0 {
				fmt.Fprintf(&b, ", %d excepted", nt.Excepted)
			}
			fmt.Fprintf(&b, " of %d %s (%d %s)\n", nt.Objects, plural(nt.Objects, "object", "objects"), nt.Pods, plural(nt.Pods, "pod", "pods"))
		}
		b.WriteString("\n")
	}
	for _, e := range o.Results {
		verdict := "ADMITTED"
		if !e.Allowed {
			verdict = "DENIED"
		}
		fmt.Fprintf(&b, "%s %s/%s (%d %s): %s\n", e.Kind, e.Namespace, e.Name, e.Pods, plural(e.Pods, "pod", "pods"), verdict)
		// What would deny first, then what would warn, then what is only reported.
		byMode := slices.Clone(e.Violations)
		slices.SortStableFunc(byMode, func(a, b audit.Finding) int { return modeRank[a.Mode] - modeRank[b.Mode] })
		for _, f := range byMode {
			on := ""
			if f.Object != "" {
				on = f.Object + ": "
			}
			fmt.Fprintf(&b, "  %s  %s%s\n", label(&f.Violation), on, f.String())
		}
		if n := e.OmittedViolations; n > 0 {
			fmt.Fprintf(&b, "  …      %d more %s not shown\n", n, plural(n, "violation", "violations"))
		}
	}
	if len(o.Results) > 0 {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%d %s (%d %s) audited in %d %s: %d would be denied, %d warned, %d audited",
		s.Objects, plural(s.Objects, "object", "objects"), s.Pods, plural(s.Pods, "pod", "pods"),
		len(s.Namespaces), plural(len(s.Namespaces), "namespace", "namespaces"), s.Denied, s.Warned, s.Audited)
	if s.Excepted > 0 {
		fmt.Fprintf(&b, ", %d excepted", s.Excepted)
	}
	if s.OutOfScope > 0 {
		fmt.Fprintf(&b, "; %d in namespaces the webhook does not see", s.OutOfScope)
	}
	if s.Skipped > 0 {
		fmt.Fprintf(&b, "; %d left out by its object selector", s.Skipped)
	}
	fmt.Fprintf(&b, "\n%d %s from the %s", len(o.policies), plural(len(o.policies), "policy", "policies"), o.PolicySource)
	if o.Exceptions > 0 {
		fmt.Fprintf(&b, ", %d %s from the %s", o.Exceptions, plural(o.Exceptions, "exception", "exceptions"), o.ExceptionSource)
	}
	if o.AsEnforce {
		b.WriteString(", evaluated as Enforce (--as-enforce)")
	}
	fmt.Fprintf(&b, "; scope from %s; %d objects listed in %d API requests\n", o.Scope, o.Listed, o.APIRequests)
	if o.SignaturesSkipped {
		b.WriteString("signatures were not verified (--skip-signatures)\n")
	}
	if o.ImageConfigSkipped {
		b.WriteString("image configs were not read (--skip-image-config)\n")
	}
	return b.String()
}
