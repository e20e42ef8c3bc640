package audit_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

func exceptionFor(t *testing.T, kinds ...string) *policy.Exception {
	t.Helper()
	x, err := policy.CompileException(&v1alpha1.PolicyException{
		ObjectMeta: metav1.ObjectMeta{Namespace: "sealgate-system", Name: "cni"},
		Spec: v1alpha1.PolicyExceptionSpec{Reason: "CNI", Policies: []v1alpha1.ExceptionPolicy{{Name: "deny-privileged"}},
			Match: v1alpha1.ExceptionMatch{Namespaces: []string{"prod"}, Kinds: kinds, Names: []string{"cni*"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func exceptionAuditor(t *testing.T, x *policy.Exception) *audit.Auditor {
	return &audit.Auditor{Policies: []*policy.Policy{denyPrivileged(t)}, Engine: &engine.Engine{Rules: rules.Default(),
		Exceptions: engine.NewStaticExceptions([]*policy.Exception{x}), ExceptionNamespace: "sealgate-system"}}
}

// A Deployment, its ReplicaSet and its pod, all privileged.
func cniObjects(t *testing.T) []*audit.Object {
	priv := spec(goodImage, true)
	return objects(t,
		typedDeployment("prod", "cni", priv),
		typedReplicaSet("prod", "cni-5d8f", priv, controller("apps/v1", "Deployment", "cni")),
		typedPod("prod", "cni-5d8f-x7k2p", priv, controller("apps/v1", "ReplicaSet", "cni-5d8f")))
}

// Waived violations are listed, marked, and counted apart: not in Denied nor in the policy's
// totals (status.audit, the metrics), but in Excepted and in the totals by exception.
func TestAuditExcepted(t *testing.T) {
	_, entries, s := run(t, exceptionAuditor(t, exceptionFor(t, "Deployment", "Pod")), cniObjects(t))
	if len(entries) != 1 || !entries[0].Allowed {
		t.Fatalf("entries: %+v", view(entries))
	}
	for _, f := range entries[0].Violations {
		if f.Excepted != "sealgate-system/cni" {
			t.Errorf("finding not marked excepted: %+v", f)
		}
	}
	if s.Denied != 0 || s.Excepted != 1 || len(s.Policies) != 0 {
		t.Errorf("summary: denied %d, excepted %d, policies %+v", s.Denied, s.Excepted, s.Policies)
	}
	want := []audit.ExceptionTotal{{Exception: "sealgate-system/cni", Policy: "deny-privileged", Rule: "containers.privileged",
		Totals: audit.Totals{Objects: 1, Pods: 1, Namespaces: []audit.NamespaceCount{{Namespace: "prod", Objects: 1}}}}}
	if diff := cmp.Diff(want, s.Exceptions); diff != "" {
		t.Errorf("exception totals (-want +got):\n%s", diff)
	}
	if nt := s.Namespaces[0]; nt.Excepted != 1 || nt.Denied != 0 {
		t.Errorf("namespace totals: %+v", nt)
	}
}

// An exception that covers the Deployment but not its pods leaves the pods denied, as admission
// would deny them when the ReplicaSet creates them: the pod's violation is listed, not hidden behind
// the owner's waived one.
func TestAuditExceptedOwnerOnly(t *testing.T) {
	_, entries, s := run(t, exceptionAuditor(t, exceptionFor(t, "Deployment")), cniObjects(t))
	want := []entryView{{Ref: "apps/v1 Deployment prod/cni", UID: uid("Deployment", "cni"), Pods: 1, Allowed: false, Findings: []string{
		"|deny-privileged/containers.privileged|spec.template.spec.containers[0].securityContext.privileged",
		"Pod/cni-5d8f-x7k2p|deny-privileged/containers.privileged|spec.containers[0].securityContext.privileged",
	}}}
	if diff := cmp.Diff(want, view(entries)); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if entries[0].Violations[0].Excepted == "" || entries[0].Violations[1].Excepted != "" {
		t.Errorf("excepted marks: %q, %q", entries[0].Violations[0].Excepted, entries[0].Violations[1].Excepted)
	}
	if s.Denied != 1 || s.Excepted != 1 {
		t.Errorf("summary: denied %d, excepted %d", s.Denied, s.Excepted)
	}
}

// Reports: a waived violation is a skip result naming the exception, in the namespace's Report and,
// totalled, in the ClusterReport; the summaries count skips.
func TestReportExcepted(t *testing.T) {
	r, _, s := run(t, exceptionAuditor(t, exceptionFor(t, "Deployment", "Pod")), cniObjects(t))
	now := time.Unix(1700000000, 0)
	rep := audit.NamespaceReport(r.Namespaces["prod"], now)
	if rep == nil || len(rep.Results) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	res := rep.Results[0]
	if res.Result != audit.ResultSkip || res.Properties[audit.PropertyException] != "sealgate-system/cni" || res.Properties["mode"] != "Enforce" {
		t.Errorf("result: %+v", res)
	}
	if want := (orv1alpha1.ReportSummary{Skip: 1}); rep.Summary != want {
		t.Errorf("summary = %+v, want %+v", rep.Summary, want)
	}
	crep := audit.SummaryReport(s, []*policy.Policy{denyPrivileged(t)}, now)
	var skips []orv1alpha1.ReportResult
	for _, res := range crep.Results {
		if res.Result == audit.ResultSkip {
			skips = append(skips, res)
		}
	}
	if len(skips) != 1 || skips[0].Properties[audit.PropertyException] != "sealgate-system/cni" || skips[0].Rule != "containers.privileged" ||
		skips[0].Description != "waived by PolicyException sealgate-system/cni: 1 object (1 pod) in 1 namespace (prod: 1)" {
		t.Errorf("cluster report skips: %+v", skips)
	}
	if crep.Summary.Skip != 1 || crep.Summary.Pass != 1 || crep.Summary.Fail != 0 {
		t.Errorf("cluster report summary: %+v", crep.Summary)
	}
	wg, err := audit.ToPolicyWG(rep)
	if err != nil {
		t.Fatal(err)
	}
	results, _ := wg.Object["results"].([]any)
	if len(results) != 1 || results[0].(map[string]any)["result"] != "skip" {
		t.Errorf("PolicyReport results: %v", results)
	}
}
