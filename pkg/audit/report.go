package audit

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
)

// Report objects: one Report per namespace and one ClusterReport that sums them up.
const (
	// ReportName names the Report in each namespace and ClusterReportName the summary.
	ReportName        = "sealgate"
	ClusterReportName = "sealgate-summary"
	// Source is the engine name on every report and result.
	Source = "sealgate"
	// MaxResultsPerReport bounds the results of one report; the summary still counts every result,
	// and AnnotationResultsOmitted says how many are not listed.
	MaxResultsPerReport      = 500
	AnnotationResultsOmitted = "sealgate.dev/results-omitted"
	// MaxReportBytes bounds the results of one report by size as well: a result's message may be
	// up to engine.MaxMessageBytes, and 500 of those would pass etcd's 1.5 MiB request limit, so
	// that the report could never be written.
	MaxReportBytes = 512 << 10
	// maxResultsBytes is what the results may take of MaxReportBytes, the rest being metadata and
	// summary.
	maxResultsBytes = MaxReportBytes - 4<<10
	// LabelManagedBy marks the reports sealgate writes, and the only ones it deletes.
	LabelManagedBy = "app.kubernetes.io/managed-by"
)

// Report results, as the OpenReports API spells them.
const (
	ResultPass = "pass"
	ResultFail = "fail"
	ResultWarn = "warn"
	ResultSkip = "skip"
)

// PropertyException is the result property that names the PolicyException ("namespace/name") that
// waives a skipped result.
const PropertyException = "exception"

// resultFor is the report result of a violation: a Warn policy warns; Enforce and Audit policies fail
// (an Audit policy is one that would deny once enforced); a violation an exception waives is
// skipped, whatever the mode, with the exception in the PropertyException property.
func resultFor(m v1alpha1.Mode, excepted string) orv1alpha1.Result {
	switch {
	case excepted != "":
		return ResultSkip
	case m == v1alpha1.ModeWarn:
		return ResultWarn
	}
	return ResultFail
}

// withException adds the PropertyException property to props when an exception waived the result.
func withException(props map[string]string, excepted string) map[string]string {
	if excepted != "" {
		props[PropertyException] = excepted
	}
	return props
}

// NamespaceReport is the Report of one namespace: a result per violation, then one per policy that
// found an object clean, up to MaxResultsPerReport. It returns nil when the namespace has nothing
// any policy matched, so that an empty report is deleted rather than kept.
func NamespaceReport(ns *Namespace, now time.Time) *orv1alpha1.Report {
	if !ns.InScope || (len(ns.Entries) == 0 && len(ns.Clean) == 0 && ns.CleanOmitted == 0) {
		return nil
	}
	ts := metav1.Timestamp{Seconds: now.Unix()}
	var results []orv1alpha1.ReportResult
	var sum orv1alpha1.ReportSummary
	for _, e := range ns.Entries {
		subject := e.reference()
		for i := range e.Violations {
			f := &e.Violations[i]
			props := withException(map[string]string{"path": f.Path, "mode": string(f.Mode), "pods": strconv.Itoa(e.Pods)}, f.Excepted)
			if f.Container != "" {
				props["container"] = f.Container
			}
			if f.Object != "" {
				props["object"] = f.Object
			}
			if len(f.AlsoRules) > 0 {
				// One field several rules flag is one result; the others are named here.
				props["alsoRules"] = strings.Join(f.AlsoRules, ",")
			}
			results = append(results, orv1alpha1.ReportResult{Source: Source, Policy: f.Policy, Rule: f.Rule,
				Result: resultFor(f.Mode, f.Excepted), Scored: true, Timestamp: ts, Subjects: []corev1.ObjectReference{subject},
				Description: f.Message, Properties: props})
		}
		for _, o := range e.Omitted {
			results = append(results, orv1alpha1.ReportResult{Source: Source, Policy: o.Policy, Rule: o.Rule,
				Result: resultFor(o.Mode, o.Excepted), Scored: true, Timestamp: ts, Subjects: []corev1.ObjectReference{subject},
				Description: fmt.Sprintf("%d more violations of this rule, not listed (pkg/engine/limits.go)", o.Count),
				Properties: withException(map[string]string{"mode": string(o.Mode), "omitted": strconv.Itoa(o.Count), "pods": strconv.Itoa(e.Pods)},
					o.Excepted)})
		}
	}
	for _, e := range ns.Clean {
		subject := e.reference()
		for _, p := range e.Policies {
			results = append(results, orv1alpha1.ReportResult{Source: Source, Policy: p, Result: ResultPass, Scored: true,
				Timestamp: ts, Subjects: []corev1.ObjectReference{subject}, Description: "no violation",
				Properties: map[string]string{"pods": strconv.Itoa(e.Pods)}})
		}
	}
	for i := range results {
		tally(&sum, results[i].Result)
	}
	sum.Pass += ns.CleanOmittedResults
	results, omitted := bound(results)
	omitted += ns.CleanOmittedResults
	r := &orv1alpha1.Report{
		TypeMeta:      metav1.TypeMeta{APIVersion: orv1alpha1.SchemeGroupVersion.String(), Kind: "Report"},
		ObjectMeta:    metav1.ObjectMeta{Name: ReportName, Namespace: ns.Name, Labels: map[string]string{LabelManagedBy: Source}},
		Source:        Source,
		Configuration: &orv1alpha1.ReportConfiguration{Limits: orv1alpha1.Limits{MaxResults: MaxResultsPerReport}},
		Summary:       sum,
		Results:       results,
	}
	if omitted > 0 {
		r.Annotations = map[string]string{AnnotationResultsOmitted: strconv.Itoa(omitted)}
	}
	return r
}

func tally(s *orv1alpha1.ReportSummary, r orv1alpha1.Result) {
	switch r {
	case ResultPass:
		s.Pass++
	case ResultFail:
		s.Fail++
	case ResultWarn:
		s.Warn++
	case ResultSkip:
		s.Skip++
	}
}

func (e *Entry) reference() corev1.ObjectReference {
	return corev1.ObjectReference{APIVersion: e.APIVersion, Kind: e.Kind, Namespace: e.Namespace, Name: e.Name, UID: e.UID}
}

// SummaryReport is the ClusterReport that sums the audit up: a result per policy rule that running
// objects violate, with how many and where, and a pass result per policy that none violates.
func SummaryReport(s *Summary, policies []*policy.Policy, now time.Time) *orv1alpha1.ClusterReport {
	ts := metav1.Timestamp{Seconds: now.Unix()}
	var results []orv1alpha1.ReportResult
	var sum orv1alpha1.ReportSummary
	violated := map[string]bool{}
	for _, pt := range s.Policies {
		violated[pt.Policy] = true
		for _, rt := range pt.Rules {
			results = append(results, orv1alpha1.ReportResult{Source: Source, Policy: pt.Policy, Rule: rt.Rule,
				Result: resultFor(pt.Mode, ""), Scored: true, Timestamp: ts,
				Description: DescribeTotals(rt.Totals, 5),
				Properties: map[string]string{"mode": string(pt.Mode), "objects": strconv.Itoa(rt.Objects),
					"pods": strconv.Itoa(rt.Pods), "namespaces": strconv.Itoa(len(rt.Namespaces))}})
		}
	}
	for _, xt := range s.Exceptions {
		results = append(results, orv1alpha1.ReportResult{Source: Source, Policy: xt.Policy, Rule: xt.Rule,
			Result: ResultSkip, Scored: true, Timestamp: ts,
			Description: "waived by PolicyException " + xt.Exception + ": " + DescribeTotals(xt.Totals, 5),
			Properties: map[string]string{PropertyException: xt.Exception, "objects": strconv.Itoa(xt.Objects),
				"pods": strconv.Itoa(xt.Pods), "namespaces": strconv.Itoa(len(xt.Namespaces))}})
	}
	names := make([]string, 0, len(policies))
	for _, p := range policies {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !violated[name] {
			results = append(results, orv1alpha1.ReportResult{Source: Source, Policy: name, Result: ResultPass, Scored: true,
				Timestamp: ts, Description: fmt.Sprintf("no running object violates it (%d audited)", s.Objects)})
		}
	}
	for i := range results {
		tally(&sum, results[i].Result)
	}
	r := &orv1alpha1.ClusterReport{
		TypeMeta:      metav1.TypeMeta{APIVersion: orv1alpha1.SchemeGroupVersion.String(), Kind: "ClusterReport"},
		ObjectMeta:    metav1.ObjectMeta{Name: ClusterReportName, Labels: map[string]string{LabelManagedBy: Source}},
		Source:        Source,
		Configuration: &orv1alpha1.ReportConfiguration{Limits: orv1alpha1.Limits{MaxResults: MaxResultsPerReport}},
		Summary:       sum,
		Results:       results,
	}
	if kept, omitted := bound(results); omitted > 0 {
		r.Annotations = map[string]string{AnnotationResultsOmitted: strconv.Itoa(omitted)}
		r.Results = kept
	}
	return r
}

// bound keeps the first results that fit MaxResultsPerReport and MaxReportBytes (measured as JSON)
// and says how many it left out.
func bound(results []orv1alpha1.ReportResult) ([]orv1alpha1.ReportResult, int) {
	size := 0
	for i := range results {
		if i == MaxResultsPerReport {
			return results[:i], len(results) - i
		}
		b, err := json.Marshal(&results[i])
		if err != nil || size+len(b) > maxResultsBytes {
			return results[:i], len(results) - i
		}
		size += len(b) + 1
	}
	return results, 0
}

// Verb says what a policy of mode m does to what violates it: "would deny", "would warn on" or
// "would report", for the CLI's summary and the what-if warning alike.
func Verb(m v1alpha1.Mode) string {
	switch m {
	case v1alpha1.ModeEnforce:
		return "would deny"
	case v1alpha1.ModeWarn:
		return "would warn on"
	}
	return "would report"
}

// DescribeTotals says how many objects and pods, in how many namespaces, naming the worst few:
// "14 objects (31 pods) in 3 namespaces (prod: 9, dev: 4, staging: 1)".
func DescribeTotals(t Totals, worst int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s (%d %s) in %d %s", t.Objects, plural(t.Objects, "object", "objects"), t.Pods,
		plural(t.Pods, "pod", "pods"), len(t.Namespaces), plural(len(t.Namespaces), "namespace", "namespaces"))
	if len(t.Namespaces) > 0 && worst > 0 {
		b.WriteString(" (")
		for i, nc := range t.Namespaces {
			if i == worst {
				fmt.Fprintf(&b, ", … %d more", len(t.Namespaces)-worst)
				break
			}
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s: %d", nc.Namespace, nc.Objects)
		}
		b.WriteString(")")
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// KeepTimestamps gives each result of want that was already in have the timestamp it had there: a
// result's time is when it was first found, and an unchanged report then compares equal.
func KeepTimestamps(want, have []orv1alpha1.ReportResult) {
	seen := make(map[string]metav1.Timestamp, len(have))
	for i := range have {
		seen[resultKey(&have[i])] = have[i].Timestamp
	}
	for i := range want {
		if ts, ok := seen[resultKey(&want[i])]; ok {
			want[i].Timestamp = ts
		}
	}
}

func resultKey(r *orv1alpha1.ReportResult) string {
	var b strings.Builder
	b.WriteString(r.Policy + "\x00" + r.Rule + "\x00" + string(r.Result) + "\x00" + r.Description)
	for _, s := range r.Subjects {
		b.WriteString("\x00" + s.Kind + "/" + s.Name + "/" + string(s.UID))
	}
	keys := make([]string, 0, len(r.Properties))
	for k := range r.Properties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString("\x00" + k + "=" + r.Properties[k])
	}
	return b.String()
}

// SameContent reports whether two reports say the same, so that an unchanged one is not rewritten.
func SameContent(a, b *orv1alpha1.Report) bool {
	return a.Source == b.Source && a.Summary == b.Summary && a.Annotations[AnnotationResultsOmitted] == b.Annotations[AnnotationResultsOmitted] &&
		apiequality.Semantic.DeepEqual(a.Configuration, b.Configuration) && sameResults(a.Results, b.Results)
}

// SameClusterContent is SameContent for the ClusterReport.
func SameClusterContent(a, b *orv1alpha1.ClusterReport) bool {
	return a.Source == b.Source && a.Summary == b.Summary && a.Annotations[AnnotationResultsOmitted] == b.Annotations[AnnotationResultsOmitted] &&
		apiequality.Semantic.DeepEqual(a.Configuration, b.Configuration) && sameResults(a.Results, b.Results)
}

func sameResults(a, b []orv1alpha1.ReportResult) bool {
	return len(a) == len(b) && slices.EqualFunc(a, b, func(x, y orv1alpha1.ReportResult) bool {
		return cmp.Compare(resultKey(&x), resultKey(&y)) == 0 && x.Timestamp == y.Timestamp && x.Source == y.Source
	})
}
