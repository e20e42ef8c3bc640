package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/policy"
)

var (
	t1 = time.Unix(1_700_000_000, 0)
	t2 = t1.Add(time.Hour)
)

// prodReport audits prodObjects and returns the namespace's report at t.
func prodReport(t *testing.T, objs []*audit.Object, at time.Time) (*orv1alpha1.Report, []*audit.Entry) {
	t.Helper()
	r, entries, _ := run(t, newAuditor(threePolicies(t)), objs)
	rep := audit.NamespaceReport(r.Namespaces["prod"], at)
	if rep == nil {
		t.Fatal("NamespaceReport(prod) = nil")
	}
	return rep, entries
}

func TestNamespaceReport(t *testing.T) {
	got, entries := prodReport(t, prodObjects(t), t1)
	ts := metav1.Timestamp{Seconds: t1.Unix()}
	ref := func(apiVersion, kind, name string) []corev1.ObjectReference {
		return []corev1.ObjectReference{{APIVersion: apiVersion, Kind: kind, Namespace: "prod", Name: name, UID: uid(kind, name)}}
	}
	// The message of each finding is the result's description, word for word.
	message := func(i int) string { return entries[i].Violations[0].Message }
	if !strings.Contains(message(0), `container "app" sets privileged: true`) {
		t.Fatalf("unexpected message %q", message(0))
	}
	fail := func(entry int, policy, rule string, mode v1alpha1.Mode, result orv1alpha1.Result, subject []corev1.ObjectReference, props map[string]string) orv1alpha1.ReportResult {
		props["mode"] = string(mode)
		props["container"] = "app"
		return orv1alpha1.ReportResult{Source: "sealgate", Policy: policy, Rule: rule, Result: result, Scored: true, Timestamp: ts,
			Subjects: subject, Description: message(entry), Properties: props}
	}
	pass := func(policy string) orv1alpha1.ReportResult {
		return orv1alpha1.ReportResult{Source: "sealgate", Policy: policy, Result: "pass", Scored: true, Timestamp: ts,
			Subjects: ref("v1", "Pod", "ok"), Description: "no violation", Properties: map[string]string{"pods": "1"}}
	}
	want := &orv1alpha1.Report{
		TypeMeta: metav1.TypeMeta{APIVersion: "openreports.io/v1alpha1", Kind: "Report"},
		ObjectMeta: metav1.ObjectMeta{Name: "sealgate", Namespace: "prod",
			Labels: map[string]string{"app.kubernetes.io/managed-by": "sealgate"}},
		Source:        "sealgate",
		Configuration: &orv1alpha1.ReportConfiguration{Limits: orv1alpha1.Limits{MaxResults: 500}},
		Summary:       orv1alpha1.ReportSummary{Pass: 3, Fail: 5, Warn: 1},
		Results: []orv1alpha1.ReportResult{
			fail(0, "deny-privileged", "containers.privileged", v1alpha1.ModeEnforce, "fail", ref("apps/v1", "Deployment", "web"),
				map[string]string{"path": "spec.template.spec.containers[0].securityContext.privileged", "pods": "2"}),
			fail(1, "warn-latest", "images.disallowLatestTag", v1alpha1.ModeWarn, "warn", ref("batch/v1", "CronJob", "nightly"),
				map[string]string{"path": "spec.jobTemplate.spec.template.spec.containers[0].image", "pods": "1"}),
			fail(2, "deny-privileged", "containers.privileged", v1alpha1.ModeEnforce, "fail", ref("argoproj.io/v1alpha1", "Rollout", "canary"),
				map[string]string{"path": "spec.template.spec.containers[0].securityContext.privileged", "pods": "2", "object": "ReplicaSet/canary-rs"}),
			fail(3, "audit-registries", "images.allowedRegistries", v1alpha1.ModeAudit, "fail", ref("apps/v1", "ReplicaSet", "legacy"),
				map[string]string{"path": "spec.template.spec.containers[0].image", "pods": "1"}),
			fail(4, "deny-privileged", "containers.privileged", v1alpha1.ModeEnforce, "fail", ref("v1", "Pod", "debug"),
				map[string]string{"path": "spec.containers[0].securityContext.privileged", "pods": "1"}),
			fail(5, "deny-privileged", "containers.privileged", v1alpha1.ModeEnforce, "fail", ref("apps/v1", "Deployment", "api"),
				map[string]string{"path": "spec.containers[0].securityContext.privileged", "pods": "2", "object": "Pod/api-x-1"}),
			pass("deny-privileged"), pass("warn-latest"), pass("audit-registries"),
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}

func TestNamespaceReportNothingMatched(t *testing.T) {
	onlyDev := compile(t, "dev-only", v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce,
		Match:      v1alpha1.Match{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "dev"}}},
		Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden}})
	r, _, _ := run(t, newAuditor([]*policy.Policy{onlyDev}), objects(t, typedPod("prod", "p", spec(goodImage, true))))
	if rep := audit.NamespaceReport(r.Namespaces["prod"], t1); rep != nil {
		t.Errorf("report of a namespace no policy matched = %+v, want nil (the report is deleted)", rep)
	}
	r, _, _ = run(t, newAuditor(threePolicies(t)), nil)
	if len(r.Namespaces) != 0 {
		t.Errorf("namespaces of an empty audit: %v", r.Namespaces)
	}
}

// TestNamespaceReportCut: past MaxResultsPerReport the report lists the violations first, says how
// many results it left out, and its summary still counts all of them.
func TestNamespaceReportCut(t *testing.T) {
	var objs []*audit.Object
	for i := range 600 {
		objs = append(objs, object(t, typedPod("prod", fmt.Sprintf("bad-%03d", i), spec(goodImage, true))))
		objs = append(objs, object(t, typedPod("prod", fmt.Sprintf("good-%03d", i), spec(goodImage, false))))
	}
	r, _, _ := run(t, newAuditor([]*policy.Policy{denyPrivileged(t)}), objs)
	ns := r.Namespaces["prod"]
	if len(ns.Clean) != audit.MaxCleanPerNamespace || ns.CleanOmitted != 100 || ns.CleanOmittedResults != 100 {
		t.Errorf("clean: %d kept, %d omitted (%d results); want %d, 100, 100", len(ns.Clean), ns.CleanOmitted, ns.CleanOmittedResults, audit.MaxCleanPerNamespace)
	}
	rep := audit.NamespaceReport(ns, t1)
	if len(rep.Results) != audit.MaxResultsPerReport {
		t.Fatalf("%d results, want %d", len(rep.Results), audit.MaxResultsPerReport)
	}
	for i, res := range rep.Results {
		if res.Result != "fail" {
			t.Fatalf("result %d is %s: the cut must keep violations before pass results", i, res.Result)
		}
	}
	// 600 fail and 600 pass results, 500 listed.
	if got := rep.Annotations[audit.AnnotationResultsOmitted]; got != "700" {
		t.Errorf("annotation %s = %q, want 700", audit.AnnotationResultsOmitted, got)
	}
	if want := (orv1alpha1.ReportSummary{Pass: 600, Fail: 600}); rep.Summary != want {
		t.Errorf("summary = %+v, want %+v", rep.Summary, want)
	}
	if rep.Configuration.Limits.MaxResults != audit.MaxResultsPerReport {
		t.Errorf("configuration.limits.maxResults = %d", rep.Configuration.Limits.MaxResults)
	}
}

// TestReportBounds: thousands of violating objects in one namespace, and one Deployment whose
// hundreds of pods each differ from its template in their own way.
func TestReportBounds(t *testing.T) {
	var objs []*audit.Object
	objs = append(objs, objects(t, typedDeployment("prod", "web", spec(goodImage, false)),
		typedReplicaSet("prod", "web-abc", spec(goodImage, false), controller("apps/v1", "Deployment", "web")))...)
	const mutated = audit.MaxFindingsPerEntry + 100
	for i := range mutated {
		objs = append(objs, object(t, typedPod("prod", fmt.Sprintf("web-abc-%d", i),
			spec(fmt.Sprintf("evil.example.com/app-%d:1", i), false), controller("apps/v1", "ReplicaSet", "web-abc"))))
	}
	const bare = 3000
	for i := range bare {
		objs = append(objs, object(t, typedPod("prod", fmt.Sprintf("p-%d", i), spec(latestImage, true))))
	}
	r, entries, s := run(t, newAuditor(threePolicies(t)), objs)
	if len(entries) != bare+1 {
		t.Fatalf("%d entries, want %d", len(entries), bare+1)
	}
	for _, e := range entries {
		if len(e.Violations) > audit.MaxFindingsPerEntry {
			t.Fatalf("%s/%s lists %d violations, more than %d", e.Kind, e.Name, len(e.Violations), audit.MaxFindingsPerEntry)
		}
	}
	web := entries[0]
	if web.Name != "web" || web.Pods != mutated || len(web.Violations) != audit.MaxFindingsPerEntry || web.OmittedViolations != 100 {
		t.Errorf("web: %d pods, %d listed, %d omitted; want %d, %d, 100", web.Pods, len(web.Violations), web.OmittedViolations,
			mutated, audit.MaxFindingsPerEntry)
	}
	if len(web.Omitted) != 1 || web.Omitted[0].Count != 100 || web.Omitted[0].Rule != "images.allowedRegistries" {
		t.Errorf("web omissions = %+v", web.Omitted)
	}
	if s.Denied != bare || s.Warned != bare || s.Audited != 1 {
		t.Errorf("summary: denied %d, warned %d, audited %d; want %d, %d, 1", s.Denied, s.Warned, s.Audited, bare, bare)
	}

	rep := audit.NamespaceReport(r.Namespaces["prod"], t1)
	if len(rep.Results) != audit.MaxResultsPerReport {
		t.Errorf("%d results, want %d", len(rep.Results), audit.MaxResultsPerReport)
	}
	// web: 300 listed and one result for the 100 omitted; each bare pod: a fail and a warn.
	total := audit.MaxFindingsPerEntry + 1 + 2*bare
	if got := rep.Annotations[audit.AnnotationResultsOmitted]; got != strconv.Itoa(total-audit.MaxResultsPerReport) {
		t.Errorf("annotation %s = %q, want %d", audit.AnnotationResultsOmitted, got, total-audit.MaxResultsPerReport)
	}
	if want := (orv1alpha1.ReportSummary{Fail: audit.MaxFindingsPerEntry + 1 + bare, Warn: bare}); rep.Summary != want {
		t.Errorf("summary = %+v, want %+v", rep.Summary, want)
	}
	omitted := rep.Results[audit.MaxFindingsPerEntry]
	if omitted.Properties["omitted"] != "100" || omitted.Rule != "images.allowedRegistries" || !strings.Contains(omitted.Description, "100 more") {
		t.Errorf("result for the omitted violations = %+v", omitted)
	}
}

// TestNamespaceReportFromAddNamespace: the background audit recomputes one namespace with
// AddNamespace and writes that namespace's report from what it returns.
func TestNamespaceReportFromAddNamespace(t *testing.T) {
	r := audit.NewResult()
	ns := newAuditor(threePolicies(t)).AddNamespace(context.Background(), r, "prod", prodObjects(t))
	fromAdd := audit.NamespaceReport(ns, t1)
	r.Finish()
	finished := audit.NamespaceReport(r.Namespaces["prod"], t1)
	if diff := cmp.Diff(finished, fromAdd); diff != "" {
		t.Errorf("report from AddNamespace's Namespace differs from the report after Finish (-finished +AddNamespace):\n%s", diff)
	}
}

func TestSummaryReport(t *testing.T) {
	policies := append(threePolicies(t), compile(t, "unused", v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce,
		Images: &v1alpha1.ImageRules{RequireDigest: true}, Match: v1alpha1.Match{ExcludeNamespaces: []string{"prod", "dev", "staging"}}}))
	_, _, s := run(t, newAuditor(policies), clusterObjects(t))
	got := audit.SummaryReport(s, policies, t1)
	ts := metav1.Timestamp{Seconds: t1.Unix()}
	result := func(policy, rule string, result orv1alpha1.Result, mode v1alpha1.Mode, desc string, objects, pods, namespaces int) orv1alpha1.ReportResult {
		return orv1alpha1.ReportResult{Source: "sealgate", Policy: policy, Rule: rule, Result: result, Scored: true, Timestamp: ts,
			Description: desc, Properties: map[string]string{"mode": string(mode), "objects": strconv.Itoa(objects),
				"pods": strconv.Itoa(pods), "namespaces": strconv.Itoa(namespaces)}}
	}
	want := &orv1alpha1.ClusterReport{
		TypeMeta:      metav1.TypeMeta{APIVersion: "openreports.io/v1alpha1", Kind: "ClusterReport"},
		ObjectMeta:    metav1.ObjectMeta{Name: "sealgate-summary", Labels: map[string]string{"app.kubernetes.io/managed-by": "sealgate"}},
		Source:        "sealgate",
		Configuration: &orv1alpha1.ReportConfiguration{Limits: orv1alpha1.Limits{MaxResults: 500}},
		Summary:       orv1alpha1.ReportSummary{Pass: 1, Fail: 3, Warn: 1},
		Results: []orv1alpha1.ReportResult{
			result("deny-privileged", "containers.privileged", "fail", v1alpha1.ModeEnforce, "4 objects (4 pods) in 2 namespaces (prod: 3, dev: 1)", 4, 4, 2),
			result("audit-registries", "images.allowedRegistries", "fail", v1alpha1.ModeAudit, "2 objects (2 pods) in 1 namespace (dev: 2)", 2, 2, 1),
			result("audit-registries", "containers.hostNamespaces", "fail", v1alpha1.ModeAudit, "1 object (1 pod) in 1 namespace (dev: 1)", 1, 1, 1),
			result("warn-latest", "images.disallowLatestTag", "warn", v1alpha1.ModeWarn, "2 objects (3 pods) in 1 namespace (prod: 2)", 2, 3, 1),
			{Source: "sealgate", Policy: "unused", Result: "pass", Scored: true, Timestamp: ts, Description: "no running object violates it (8 audited)"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cluster report (-want +got):\n%s", diff)
	}
}

func TestSummaryReportCut(t *testing.T) {
	var policies []*policy.Policy
	for i := range audit.MaxResultsPerReport + 10 {
		policies = append(policies, compile(t, fmt.Sprintf("p-%03d", i), v1alpha1.PolicySpec{Images: &v1alpha1.ImageRules{RequireDigest: true}}))
	}
	got := audit.SummaryReport(&audit.Summary{}, policies, t1)
	if len(got.Results) != audit.MaxResultsPerReport || got.Annotations[audit.AnnotationResultsOmitted] != "10" ||
		got.Summary.Pass != audit.MaxResultsPerReport+10 {
		t.Errorf("%d results, annotation %q, summary %+v; want %d, 10, %d passes", len(got.Results),
			got.Annotations[audit.AnnotationResultsOmitted], got.Summary, audit.MaxResultsPerReport, audit.MaxResultsPerReport+10)
	}
}

func TestKeepTimestampsAndSameContent(t *testing.T) {
	have, _ := prodReport(t, prodObjects(t), t1)

	again, _ := prodReport(t, prodObjects(t), t2)
	if audit.SameContent(have, again) {
		t.Fatal("SameContent ignores the results' timestamps before KeepTimestamps")
	}
	audit.KeepTimestamps(again.Results, have.Results)
	if !audit.SameContent(have, again) {
		t.Errorf("an unchanged audit does not compare equal after KeepTimestamps:\n%s", cmp.Diff(have, again))
	}

	// The debug pod's container is renamed: its result's message changes and it is new; the others
	// keep the time they were first found.
	objs := prodObjects(t)
	for i, o := range objs {
		if o.Name == "debug" {
			s := spec(goodImage, true)
			s.Containers[0].Name = "main"
			objs[i] = object(t, typedPod("prod", "debug", s))
		}
	}
	changed, _ := prodReport(t, objs, t2)
	audit.KeepTimestamps(changed.Results, have.Results)
	if audit.SameContent(have, changed) {
		t.Error("a report whose message changed compares equal")
	}
	for _, res := range changed.Results {
		isNew := res.Subjects[0].Name == "debug"
		if wantTS := map[bool]time.Time{true: t2, false: t1}[isNew]; res.Timestamp.Seconds != wantTS.Unix() {
			t.Errorf("result %s/%s on %s: timestamp %d, want %d", res.Policy, res.Rule, res.Subjects[0].Name, res.Timestamp.Seconds, wantTS.Unix())
		}
	}

	for name, change := range map[string]func(r *orv1alpha1.Report){
		"message":    func(r *orv1alpha1.Report) { r.Results[0].Description += "." },
		"result":     func(r *orv1alpha1.Report) { r.Results[0].Result = "warn" },
		"property":   func(r *orv1alpha1.Report) { r.Results[0].Properties["pods"] = "3" },
		"subject":    func(r *orv1alpha1.Report) { r.Results[0].Subjects[0].UID = "other" },
		"timestamp":  func(r *orv1alpha1.Report) { r.Results[0].Timestamp.Seconds++ },
		"summary":    func(r *orv1alpha1.Report) { r.Summary.Fail++ },
		"annotation": func(r *orv1alpha1.Report) { r.Annotations = map[string]string{audit.AnnotationResultsOmitted: "1"} },
		"limit":      func(r *orv1alpha1.Report) { r.Configuration.Limits.MaxResults = 1 },
		"dropped":    func(r *orv1alpha1.Report) { r.Results = r.Results[1:] },
	} {
		c := have.DeepCopy()
		change(c)
		if audit.SameContent(have, c) {
			t.Errorf("a report with a changed %s compares equal", name)
		}
	}
	// What the API server adds does not count.
	c := have.DeepCopy()
	c.ResourceVersion, c.UID, c.Generation = "7", "uid", 3
	if !audit.SameContent(have, c) {
		t.Error("server-set metadata makes a report differ")
	}

	s1 := audit.SummaryReport(&audit.Summary{}, threePolicies(t), t1)
	s2 := audit.SummaryReport(&audit.Summary{}, threePolicies(t), t2)
	audit.KeepTimestamps(s2.Results, s1.Results)
	if !audit.SameClusterContent(s1, s2) {
		t.Error("an unchanged cluster report does not compare equal after KeepTimestamps")
	}
	s2.Results[0].Description = "changed"
	if audit.SameClusterContent(s1, s2) {
		t.Error("a cluster report with a changed message compares equal")
	}
}

// TestReportStableAcrossListingOrder: the background audit gets a namespace's objects from an
// informer index, in a map's order. The same objects must give the same report, or every scan
// rewrites every report.
func TestReportStableAcrossListingOrder(t *testing.T) {
	objs := clusterObjects(t)[:7] // prod: a Deployment, its ReplicaSet, then pods
	a := newAuditor(threePolicies(t))
	report := func(objs []*audit.Object, at time.Time) *orv1alpha1.Report {
		r := audit.NewResult()
		a.AddNamespace(context.Background(), r, "prod", objs)
		r.Finish()
		return audit.NamespaceReport(r.Namespaces["prod"], at)
	}
	have := report(objs, t1)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5 {
		pods := append([]*audit.Object(nil), objs[2:]...) // controllers stay first
		rng.Shuffle(len(pods), func(i, j int) { pods[i], pods[j] = pods[j], pods[i] })
		want := report(append(objs[:2:2], pods...), t2)
		audit.KeepTimestamps(want.Results, have.Results)
		if !audit.SameContent(have, want) {
			var order []string
			for _, p := range pods {
				order = append(order, p.Name)
			}
			t.Fatalf("pods listed as %v give a different report:\n%s", order, cmp.Diff(have.Results, want.Results))
		}
	}
}

// TestNamespaceReportFitsTheAPIServer: an attacker who may create pods chooses how long the
// messages are (names, images and capabilities are quoted up to their limits), so a report of
// long results must still be one the API server stores: within MaxReportBytes, far below etcd's
// 1.5 MiB request limit, with the cut stated.
func TestNamespaceReportFitsTheAPIServer(t *testing.T) {
	long := strings.Repeat("x", 120)
	var patterns []string
	for i := range 8 {
		patterns = append(patterns, fmt.Sprintf("registry-%d.%s.example.com/**", i, long))
	}
	p := compile(t, "long", v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce,
		Images:     &v1alpha1.ImageRules{AllowedRegistries: patterns},
		Containers: &v1alpha1.ContainerRules{Capabilities: &v1alpha1.CapabilityRules{}}})
	var objs []*audit.Object
	for i := range 200 {
		s := corev1.PodSpec{}
		for c := range 3 {
			var caps []corev1.Capability
			for k := range 12 {
				caps = append(caps, corev1.Capability(fmt.Sprintf("CAP_%s_%d", long[:100], k)))
			}
			s.Containers = append(s.Containers, corev1.Container{Name: fmt.Sprintf("c%d-%s", c, long[:60]),
				Image:           fmt.Sprintf("evil.example.com/%s/%s:%d", long[:100], long[:100], c),
				SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: caps}}})
		}
		objs = append(objs, object(t, typedPod("prod", fmt.Sprintf("pod-%03d-%s", i, long[:40]), s)))
	}
	r, _, _ := run(t, newAuditor([]*policy.Policy{p}), objs)
	rep := audit.NamespaceReport(r.Namespaces["prod"], t1)
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > audit.MaxReportBytes {
		t.Errorf("the report is %d bytes, over MaxReportBytes (%d): the API server may refuse it", len(data), audit.MaxReportBytes)
	}
	omitted, _ := strconv.Atoi(rep.Annotations[audit.AnnotationResultsOmitted])
	if len(rep.Results)+omitted != rep.Summary.Fail+rep.Summary.Pass+rep.Summary.Warn || omitted == 0 {
		t.Errorf("%d results listed and %d omitted, summary %+v: the cut must be stated and the summary complete",
			len(rep.Results), omitted, rep.Summary)
	}
}
