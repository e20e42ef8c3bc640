//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/audit"
)

const auditPolicy = "int-audit"

// The background audit, on a real API server: workloads first (a Deployment with its ReplicaSet and
// pods, a bare pod, a CronJob with its Job and pod, a clean pod), then an Audit policy. The leader
// writes the namespace's Report (each violating workload once, through its top owner, with its
// pods), the ClusterReport, status.audit (and the VIOLATIONS column) and the gauge. Fixing the
// Deployment and replacing its pods turns its result into a pass; deleting the bare pod removes its
// entry; a policy change rescans (the new rule's results appear); and with a second replica, only
// one of them writes.
func TestAuditBackground(t *testing.T) {
	ns := namespace(t, "audit", nil)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: podTemplate(true)}}
	create(t, d)
	rs1, pods1 := replicaSet(t, d, "web-1", "web-1-a", "web-1-b")
	solo := auditPod(ns, "solo", true, nil)
	create(t, solo)
	create(t, auditPod(ns, "clean", false, nil))
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly"}, Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *",
		JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: auditContainer(true)}}}}}}
	create(t, cj)
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly-1", OwnerReferences: ownedBy(cj, cronJobGVK)},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"job": "nightly-1"}},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: auditContainer(true)}}}}
	create(t, job)
	jobPod := auditPod(ns, "nightly-1-x", true, ownedBy(job, jobGVK))
	create(t, jobPod)

	applyPolicy(t, auditPolicy, `{mode: Audit, match: {namespaceSelector: {matchLabels: {int-test: audit}}}, containers: {privileged: Forbid}}`)

	const rule = "containers.privileged"
	r := waitReport(t, ns, "the report of the workloads that ran before the policy",
		"fail int-audit/containers.privileged Deployment/web pods=2",
		"fail int-audit/containers.privileged CronJob/nightly pods=1",
		"fail int-audit/containers.privileged Pod/solo pods=1",
		"pass int-audit/ Pod/clean pods=1",
	)
	if r.Labels[audit.LabelManagedBy] != audit.Source || r.Source != audit.Source ||
		r.Configuration == nil || r.Configuration.Limits.MaxResults != audit.MaxResultsPerReport {
		t.Errorf("report labels %v, source %q, configuration %+v", r.Labels, r.Source, r.Configuration)
	}
	if r.Summary.Fail != 3 || r.Summary.Pass != 1 || r.Summary.Warn != 0 {
		t.Errorf("summary %+v, want 3 fail and 1 pass", r.Summary)
	}
	for _, want := range []struct {
		kind, name, apiVersion, path, pods string
		uid                                string
	}{
		{"Deployment", "web", "apps/v1", "spec.template.spec.containers[0].securityContext.privileged", "2", string(d.UID)},
		{"CronJob", "nightly", "batch/v1", "spec.jobTemplate.spec.template.spec.containers[0].securityContext.privileged", "1", string(cj.UID)},
		{"Pod", "solo", "v1", "spec.containers[0].securityContext.privileged", "1", string(solo.UID)},
	} {
		res := findResult(t, r, auditPolicy, rule, want.kind, want.name)
		sub := res.Subjects[0]
		if sub.APIVersion != want.apiVersion || sub.Namespace != ns || string(sub.UID) != want.uid {
			t.Errorf("%s/%s: subject %+v", want.kind, want.name, sub)
		}
		props := res.Properties
		if res.Result != audit.ResultFail || res.Source != audit.Source || !res.Scored || res.Timestamp.Seconds == 0 ||
			res.Description == "" || props["path"] != want.path || props["pods"] != want.pods ||
			props["mode"] != "Audit" || props["container"] != "c" {
			t.Errorf("%s/%s: result %s source %q scored %v timestamp %v message %q properties %v", want.kind, want.name,
				res.Result, res.Source, res.Scored, res.Timestamp, res.Description, props)
		}
	}

	eventually(t, settle, "the ClusterReport's result for the policy rule", func() (bool, string) {
		cr := getClusterReport(t)
		for _, res := range cr.Results {
			if res.Policy == auditPolicy && res.Rule == rule {
				p := res.Properties
				ok := res.Result == audit.ResultFail && p["objects"] == "3" && p["pods"] == "4" && p["namespaces"] == "1" &&
					p["mode"] == "Audit" && strings.Contains(res.Description, ns+": 3")
				return ok, fmt.Sprintf("%s %q %v", res.Result, res.Description, p)
			}
		}
		return false, resultLines(cr.Results)
	})
	wantStatusAudit(t, v1alpha1.AuditStatus{Mode: v1alpha1.ModeAudit, ViolatingObjects: 3, ViolatingPods: 4, Namespaces: 1,
		Rules: []v1alpha1.RuleCount{{Rule: rule, Objects: 3}}})
	eventually(t, settle, "the VIOLATIONS column of kubectl get cap", func() (bool, string) {
		res := kubectl(t, "", "get", "clusteradmissionpolicy", auditPolicy)
		return column(res.Stdout, "VIOLATIONS") == "3", res.String()
	})
	eventually(t, settle, "the gauge on the leader", func() (bool, string) {
		v := metric(t, "sealgate_audit_violations", map[string]string{"policy": auditPolicy, "rule": rule})
		return v == 3, fmt.Sprint(v)
	})

	// Fixed: the template no longer asks for privileged, and the rollout replaced the pods.
	patch := client.RawPatch("application/merge-patch+json",
		[]byte(`{"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.37", "securityContext": null}]}}}}`))
	if err := env.Client.Patch(t.Context(), d, patch); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods1 {
		remove(t, p)
	}
	remove(t, rs1)
	replicaSet(t, d, "web-2", "web-2-a", "web-2-b")
	// Deleted: the bare pod's entry goes.
	remove(t, solo)
	waitReport(t, ns, "the fixed Deployment passing and the deleted pod gone",
		"fail int-audit/containers.privileged CronJob/nightly pods=1",
		"pass int-audit/ Deployment/web pods=2",
		"pass int-audit/ Pod/clean pods=1",
	)
	wantStatusAudit(t, v1alpha1.AuditStatus{Mode: v1alpha1.ModeAudit, ViolatingObjects: 1, ViolatingPods: 1, Namespaces: 1,
		Rules: []v1alpha1.RuleCount{{Rule: rule, Objects: 1}}})

	// A policy change rescans: a new rule's results appear, in the new mode.
	fullScans := metric(t, "sealgate_audit_scans_total", map[string]string{"kind": "full"})
	mustKubectl(t, policyYAML(auditPolicy, `{mode: Warn, match: {namespaceSelector: {matchLabels: {int-test: audit}}}, `+
		`containers: {privileged: Forbid}, resources: {requireLimits: [memory]}}`), "apply", "-f", "-")
	waitReport(t, ns, "the new rule's results after the policy change",
		"warn int-audit/resources.requireLimits Deployment/web pods=2",
		"warn int-audit/containers.privileged CronJob/nightly pods=1",
		"warn int-audit/resources.requireLimits CronJob/nightly pods=1",
		"warn int-audit/resources.requireLimits Pod/clean pods=1",
	)
	// The scan is counted once its writes are done.
	eventually(t, settle, "a full scan counted after the policy change", func() (bool, string) {
		n := metric(t, "sealgate_audit_scans_total", map[string]string{"kind": "full"})
		return n > fullScans, fmt.Sprintf("%v full scans, %v before the change", n, fullScans)
	})
	wantStatusAudit(t, v1alpha1.AuditStatus{Mode: v1alpha1.ModeWarn, ViolatingObjects: 3, ViolatingPods: 4, Namespaces: 1,
		Rules: []v1alpha1.RuleCount{{Rule: "resources.requireLimits", Objects: 3}, {Rule: rule, Objects: 1}}})

	// Two replicas: a change is written by one of them only.
	r2 := startReplica(t, "audit-r2")
	before1, before2 := auditWrites(t, sg), auditWrites(t, r2)
	remove(t, jobPod)
	waitReport(t, ns, "the CronJob's pod gone",
		"warn int-audit/resources.requireLimits Deployment/web pods=2",
		"warn int-audit/containers.privileged CronJob/nightly pods=0",
		"warn int-audit/resources.requireLimits CronJob/nightly pods=0",
		"warn int-audit/resources.requireLimits Pod/clean pods=1",
	)
	d1, d2 := auditWrites(t, sg)-before1, auditWrites(t, r2)-before2
	t.Logf("audit writes during the step: suite replica %v, second replica %v", d1, d2)
	if (d1 > 0) == (d2 > 0) {
		t.Errorf("audit writes: suite replica %v, second replica %v; want exactly one of them writing", d1, d2)
	}
}

// wantStatusAudit waits until status.audit of the audit policy has the counts of want.
func wantStatusAudit(t *testing.T, want v1alpha1.AuditStatus) {
	t.Helper()
	eventually(t, settle, fmt.Sprintf("status.audit of %s", auditPolicy), func() (bool, string) {
		var p v1alpha1.ClusterAdmissionPolicy
		if err := env.Client.Get(t.Context(), client.ObjectKey{Name: auditPolicy}, &p); err != nil {
			return false, err.Error()
		}
		got := p.Status.Audit
		b, _ := json.Marshal(got)
		if got == nil || got.LastScanTime.IsZero() {
			return false, string(b)
		}
		ok := got.Mode == want.Mode && got.ViolatingObjects == want.ViolatingObjects && got.ViolatingPods == want.ViolatingPods &&
			got.Namespaces == want.Namespaces && fmt.Sprint(got.Rules) == fmt.Sprint(want.Rules)
		return ok, string(b)
	})
}

// column returns the value of a column in kubectl's table output of one object.
func column(table, name string) string {
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 2 {
		return ""
	}
	head, row := strings.Fields(lines[0]), strings.Fields(lines[1])
	for i, h := range head {
		if h == name && i < len(row) {
			return row[i]
		}
	}
	return ""
}

// With --audit-report-api wgpolicyk8s.io/v1alpha2, a replica writes the same results as a
// PolicyReport. It campaigns for a Lease of its own, so that it leads beside the suite's replica.
func TestAuditPolicyWGReports(t *testing.T) {
	ns := namespace(t, "audit-wg", nil)
	create(t, auditPod(ns, "root", true, nil))
	applyPolicy(t, "int-audit-wg", `{mode: Enforce, match: {namespaceSelector: {matchLabels: {int-test: audit-wg}}}, containers: {privileged: Forbid}}`)
	startReplica(t, "audit-wg", "--leader-election-id", "audit-wg", "--audit-report-api", audit.APIPolicyWG)
	var results []any
	eventually(t, 30*time.Second, "the PolicyReport", func() (bool, string) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(audit.PolicyWGGroupVersion.WithKind("PolicyReport"))
		if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: audit.ReportName}, u); err != nil {
			return false, err.Error()
		}
		results, _, _ = unstructured.NestedSlice(u.Object, "results")
		return u.GetLabels()[audit.LabelManagedBy] == audit.Source && len(results) == 1, fmt.Sprint(u.Object)
	})
	res := results[0].(map[string]any)
	subjects, _ := res["resources"].([]any)
	if res["policy"] != "int-audit-wg" || res["rule"] != "containers.privileged" || res["result"] != "fail" || len(subjects) != 1 ||
		subjects[0].(map[string]any)["name"] != "root" {
		t.Errorf("PolicyReport result: %v", res)
	}
}
