package cli

import (
	"fmt"
	"io"
	"slices"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/policy"
)

// reports builds the OpenReports objects the cluster's audit writes, from the check's results: a
// Report per namespace and a ClusterReport that sums them up, by the same builders (pkg/audit),
// so that CI and the cluster speak one format. check sees manifests, not running pods: each
// result's "pods" property is 0.
func (r *report) reports(now time.Time) []any {
	ar := audit.NewResult()
	var matched []string
	for i := range r.Results {
		res := &r.Results[i]
		ns := ar.Namespaces[res.Namespace]
		if ns == nil {
			ns = &audit.Namespace{Name: res.Namespace, InScope: true}
			ar.Namespaces[res.Namespace] = ns
		}
		ns.Objects++
		e := &audit.Entry{APIVersion: res.APIVersion, Kind: res.Kind, Namespace: res.Namespace, Name: res.Name,
			Source: res.Source, Allowed: res.Allowed, Policies: res.Policies, OmittedViolations: res.OmittedViolations,
			Omitted: res.omissions}
		for _, v := range res.Violations {
			e.Violations = append(e.Violations, audit.Finding{Violation: v})
		}
		for _, p := range res.Policies {
			if !slices.Contains(matched, p) {
				matched = append(matched, p)
			}
		}
		switch {
		case len(e.Violations) > 0 || len(e.Omitted) > 0:
			ns.Entries = append(ns.Entries, e)
		case len(e.Policies) > 0:
			ns.Clean = append(ns.Clean, e)
		}
	}
	_, sum := ar.Finish()
	names := make([]string, 0, len(ar.Namespaces))
	for name := range ar.Namespaces {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []any
	for _, name := range names {
		if rep := audit.NamespaceReport(ar.Namespaces[name], now); rep != nil {
			out = append(out, rep)
		}
	}
	policies := make([]*policy.Policy, len(matched))
	for i, name := range matched {
		policies[i] = &policy.Policy{Name: name}
	}
	return append(out, audit.SummaryReport(sum, policies, now))
}

// writeReports writes the reports as a YAML stream, ready for kubectl apply or a report viewer.
func (r *report) writeReports(w io.Writer, now time.Time) error {
	for i, obj := range r.reports(now) {
		out, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("rendering report: %w", err)
		}
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
	return nil
}
