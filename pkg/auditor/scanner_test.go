package auditor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/go-logr/logr/testr"
	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/cluster"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/rules"
)

// scanFixture is a scanner over fake API servers: a clientset for the informers and a
// controller-runtime client for reports and status.
type scanFixture struct {
	cs     *fake.Clientset
	api    client.Client
	store  *cluster.Store
	leader *leader
	reg    *prometheus.Registry
	s      *Scanner
}

func newScanFixture(t *testing.T, reportAPI string, objs ...runtime.Object) *scanFixture {
	t.Helper()
	obj := policyObject("no-privileged", v1alpha1.ModeAudit, forbidPrivileged)
	f := &scanFixture{cs: fake.NewClientset(objs...), api: fakeAPI(t, obj), store: cluster.NewStore(), leader: &leader{},
		reg: prometheus.NewPedanticRegistry()}
	f.store.Put(compile(t, obj))
	f.store.MarkLoaded()
	f.leader.on.Store(true)
	rec, err := metrics.NewPrometheus(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	f.s = &Scanner{Engine: &engine.Engine{Rules: rules.Default()}, Store: f.store, Leader: f.leader,
		Client: f.api, Cache: f.api, ReportAPI: reportAPI, WebhookConfig: "sealgate", Namespace: "sealgate-system",
		Metrics: rec, Log: testr.New(t)}
	started(t, f.cs, func(in *Informers) {
		f.s.Informers = in
		if err := f.s.Register(noEvents{}); err != nil {
			t.Fatal(err)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	t.Cleanup(func() { cancel(); <-done })
	go func() { done <- f.s.Start(ctx) }()
	return f
}

func (f *scanFixture) counter(t *testing.T, name, kind string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func (f *scanFixture) report(t *testing.T, ns string) *orv1alpha1.Report {
	t.Helper()
	var r orv1alpha1.Report
	err := f.api.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: audit.ReportName}, &r)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

// subjects lists a report's results as "result policy/rule Kind/name pods=N".
func subjects(r *orv1alpha1.Report) string {
	if r == nil {
		return "<no report>"
	}
	var out []string
	for _, res := range r.Results {
		s := fmt.Sprintf("%s %s/%s", res.Result, res.Policy, res.Rule)
		for _, sub := range res.Subjects {
			s += fmt.Sprintf(" %s/%s", sub.Kind, sub.Name)
		}
		out = append(out, s+" pods="+res.Properties["pods"])
	}
	return strings.Join(out, "; ")
}

func (f *scanFixture) policyAudit(t *testing.T) *v1alpha1.AuditStatus {
	t.Helper()
	var p v1alpha1.ClusterAdmissionPolicy
	if err := f.api.Get(context.Background(), client.ObjectKey{Name: "no-privileged"}, &p); err != nil {
		t.Fatal(err)
	}
	return p.Status.Audit
}

func objects() []runtime.Object {
	objs := deployment("team", "web", true, "web-rs-a", "web-rs-b")
	return append(objs, pod("team", "solo", true, nil), pod("team", "clean", false, nil),
		pod("kube-system", "proxy", true, nil))
}

// The full scan writes a report per namespace (violations through the top owner, a pass for the
// clean pod, nothing for kube-system, which the webhook never sees), the ClusterReport, status.audit
// and the gauge; a deletion rewrites them; an event that changes nothing the audit reads writes
// nothing; leadership lost clears the gauge, and the full scan of the next term writes nothing when
// nothing changed.
func TestScannerWritesReportsStatusAndMetrics(t *testing.T) {
	f := newScanFixture(t, audit.APIOpenReports, objects()...)
	const want = "fail no-privileged/containers.privileged Deployment/web pods=2; " +
		"fail no-privileged/containers.privileged Pod/solo pods=1; pass no-privileged/ Pod/clean pods=1"
	eventually(t, "the first full scan", func() (bool, string) {
		n := f.counter(t, "sealgate_audit_scans_total", "full")
		return n == 1, fmt.Sprint(n)
	})
	if got := subjects(f.report(t, "team")); got != want {
		t.Fatalf("report of namespace team:\n got %s\nwant %s", got, want)
	}
	if r := f.report(t, "kube-system"); r != nil {
		t.Errorf("kube-system has a report, though the webhook never sees it: %s", subjects(r))
	}
	r := f.report(t, "team")
	if r.Labels[audit.LabelManagedBy] != audit.Source || r.Summary.Fail != 2 || r.Summary.Pass != 1 {
		t.Errorf("report labels %v summary %+v", r.Labels, r.Summary)
	}
	if got := r.Results[0].Properties["path"]; got != "spec.template.spec.containers[0].securityContext.privileged" {
		t.Errorf("path of the Deployment's result = %q", got)
	}
	var cr orv1alpha1.ClusterReport
	if err := f.api.Get(context.Background(), client.ObjectKey{Name: audit.ClusterReportName}, &cr); err != nil {
		t.Fatal(err)
	}
	if len(cr.Results) != 1 || cr.Results[0].Properties["objects"] != "2" || cr.Results[0].Properties["pods"] != "3" {
		t.Errorf("cluster report results: %+v", cr.Results)
	}
	st := f.policyAudit(t)
	wantStatus := &v1alpha1.AuditStatus{Mode: v1alpha1.ModeAudit, ViolatingObjects: 2, ViolatingPods: 3, Namespaces: 1,
		Rules: []v1alpha1.RuleCount{{Rule: "containers.privileged", Objects: 2}}}
	if st == nil || st.LastScanTime.IsZero() || !sameCounts(st, wantStatus) {
		t.Fatalf("status.audit = %+v, want %+v", st, wantStatus)
	}
	gauge := `
# HELP sealgate_audit_violations Objects already in the cluster (top owners) that violate a policy rule, at the background audit's last scan; exported by the replica that audits.
# TYPE sealgate_audit_violations gauge
sealgate_audit_violations{policy="no-privileged",rule="containers.privileged"} 2
`
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(gauge), "sealgate_audit_violations"); err != nil {
		t.Error(err)
	}
	for kind, n := range map[string]float64{"report": 1, "clusterreport": 1, "status": 1} {
		if got := f.counter(t, "sealgate_audit_report_writes_total", kind); got != n {
			t.Errorf("writes of kind %s = %v, want %v", kind, got, n)
		}
	}

	// A pod's status changes (nothing the audit reads: TestInformersOnChangeSkipsStatus), then a pod
	// goes: one scan, and every write it implies.
	clean, _ := f.cs.CoreV1().Pods("team").Get(context.Background(), "clean", metav1.GetOptions{})
	clean.Status.Phase = corev1.PodRunning
	if _, err := f.cs.CoreV1().Pods("team").UpdateStatus(context.Background(), clean, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.cs.CoreV1().Pods("team").Delete(context.Background(), "solo", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted pod's result gone", func() (bool, string) {
		got := subjects(f.report(t, "team"))
		return !strings.Contains(got, "Pod/solo"), got
	})
	eventually(t, "status.audit counts one object", func() (bool, string) {
		st := f.policyAudit(t)
		return st != nil && st.ViolatingObjects == 1 && st.ViolatingPods == 2, fmt.Sprintf("%+v", st)
	})
	eventually(t, "the incremental scan counted", func() (bool, string) {
		n := f.counter(t, "sealgate_audit_scans_total", "incremental")
		return n == 1, fmt.Sprint(n)
	})
	if got := testutil.ToFloat64(gaugeOf(t, f.reg)); got != 1 {
		t.Errorf("gauge = %v, want 1", got)
	}

	// Leadership lost: the gauge goes; won again: a full scan that writes nothing.
	writes := f.counter(t, "sealgate_audit_report_writes_total", "report") + f.counter(t, "sealgate_audit_report_writes_total", "clusterreport") +
		f.counter(t, "sealgate_audit_report_writes_total", "status")
	f.leader.on.Store(false)
	eventually(t, "the gauge cleared", func() (bool, string) {
		n, err := testutil.GatherAndCount(f.reg, "sealgate_audit_violations")
		return err == nil && n == 0, fmt.Sprint(n, err)
	})
	f.leader.on.Store(true)
	eventually(t, "a second full scan", func() (bool, string) {
		n := f.counter(t, "sealgate_audit_scans_total", "full")
		return n == 2, fmt.Sprint(n)
	})
	after := f.counter(t, "sealgate_audit_report_writes_total", "report") + f.counter(t, "sealgate_audit_report_writes_total", "clusterreport") +
		f.counter(t, "sealgate_audit_report_writes_total", "status")
	if after != writes {
		t.Errorf("a full scan that found nothing new wrote %v times", after-writes)
	}
}

// gaugeOf returns the one gauge sample of sealgate_audit_violations as a collector for ToFloat64.
func gaugeOf(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "sealgate_audit_violations" && len(mf.GetMetric()) == 1 {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
			g.Set(mf.GetMetric()[0].GetGauge().GetValue())
			return g
		}
	}
	t.Fatal("no single sample of sealgate_audit_violations")
	return nil
}

// A change of the policies in force rescans everything: a new rule's results appear, and the
// policy's status is written again with the time of the scan.
func TestScannerRescansOnPolicyChange(t *testing.T) {
	f := newScanFixture(t, audit.APIOpenReports, objects()...)
	eventually(t, "the first report", func() (bool, string) { r := f.report(t, "team"); return r != nil, subjects(r) })
	obj := policyObject("no-privileged", v1alpha1.ModeEnforce, v1alpha1.PolicySpec{
		Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden}, Images: &v1alpha1.ImageRules{RequireDigest: true}})
	obj.Generation = 2
	f.store.Put(compile(t, obj))
	eventually(t, "results of the new rule", func() (bool, string) {
		got := subjects(f.report(t, "team"))
		return strings.Contains(got, "fail no-privileged/images.requireDigest Pod/clean"), got
	})
	eventually(t, "status.audit in the new mode", func() (bool, string) {
		st := f.policyAudit(t)
		return st != nil && st.Mode == v1alpha1.ModeEnforce && len(st.Rules) == 2, fmt.Sprintf("%+v", st)
	})
	if n := f.counter(t, "sealgate_audit_scans_total", "full"); n != 2 {
		t.Errorf("full scans = %v, want 2", n)
	}
}

// With --audit-report-api wgpolicyk8s.io/v1alpha2 the same content is written as a PolicyReport,
// and a second scan of an unchanged namespace does not rewrite it.
func TestScannerWritesPolicyWGReports(t *testing.T) {
	f := newScanFixture(t, audit.APIPolicyWG, objects()...)
	get := func() (*unstructured.Unstructured, error) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(policyReportGVK)
		return u, f.api.Get(context.Background(), client.ObjectKey{Namespace: "team", Name: audit.ReportName}, u)
	}
	eventually(t, "the PolicyReport", func() (bool, string) { _, err := get(); return err == nil, fmt.Sprint(err) })
	u, _ := get()
	results, _, _ := unstructured.NestedSlice(u.Object, "results")
	if len(results) != 3 {
		t.Fatalf("PolicyReport results: %v", results)
	}
	var openReports orv1alpha1.Report
	err := f.api.Get(context.Background(), client.ObjectKey{Namespace: "team", Name: audit.ReportName}, &openReports)
	if !apierrors.IsNotFound(err) {
		t.Errorf("an OpenReports Report was written too: %v", err)
	}
	before := f.counter(t, "sealgate_audit_report_writes_total", "report")
	f.s.Dirty("team")
	eventually(t, "an incremental scan", func() (bool, string) {
		n := f.counter(t, "sealgate_audit_scans_total", "incremental")
		return n == 1, fmt.Sprint(n)
	})
	if got := f.counter(t, "sealgate_audit_report_writes_total", "report"); got != before {
		t.Errorf("an unchanged PolicyReport was rewritten (%v writes, was %v)", got, before)
	}
}
