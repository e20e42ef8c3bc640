//go:build integration

package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/test/cluster"
)

// Objects the audit tests create as a controller-manager would (the suite runs none): each owned
// object carries a controller owner reference with its owner's UID.

func auditContainer(privileged bool) []corev1.Container {
	c := corev1.Container{Name: "c", Image: "busybox:1.37"}
	if privileged {
		c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	}
	return []corev1.Container{c}
}

func ownedBy(obj client.Object, gvk schema.GroupVersionKind) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: obj.GetName(),
		UID: obj.GetUID(), Controller: ptr.To(true)}}
}

var (
	deploymentGVK = appsv1.SchemeGroupVersion.WithKind("Deployment")
	replicaSetGVK = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	cronJobGVK    = batchv1.SchemeGroupVersion.WithKind("CronJob")
	jobGVK        = batchv1.SchemeGroupVersion.WithKind("Job")
)

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(t.Context(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func remove(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Delete(t.Context(), obj); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("deleting %T %s: %v", obj, obj.GetName(), err)
	}
}

func auditPod(ns, name string, privileged bool, owners []metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners},
		Spec: corev1.PodSpec{Containers: auditContainer(privileged)}}
}

func podTemplate(privileged bool) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: auditContainer(privileged)}}
}

// replicaSet creates a ReplicaSet of d with the given pods, as a rollout of d's template does.
func replicaSet(t *testing.T, d *appsv1.Deployment, name string, pods ...string) (*appsv1.ReplicaSet, []*corev1.Pod) {
	t.Helper()
	privileged := d.Spec.Template.Spec.Containers[0].SecurityContext != nil
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: name, OwnerReferences: ownedBy(d, deploymentGVK)},
		Spec: appsv1.ReplicaSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template}}
	create(t, rs)
	var out []*corev1.Pod
	for _, p := range pods {
		pod := auditPod(d.Namespace, p, privileged, ownedBy(rs, replicaSetGVK))
		pod.Labels = map[string]string{"app": "web"}
		create(t, pod)
		out = append(out, pod)
	}
	return rs, out
}

// getReport reads a namespace's Report, nil when there is none.
func getReport(t *testing.T, ns string) *orv1alpha1.Report {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(orv1alpha1.SchemeGroupVersion.WithKind("Report"))
	err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: audit.ReportName}, u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("reading the Report of %s: %v", ns, err)
	}
	var r orv1alpha1.Report
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func getClusterReport(t *testing.T) *orv1alpha1.ClusterReport {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(orv1alpha1.SchemeGroupVersion.WithKind("ClusterReport"))
	if err := env.Client.Get(t.Context(), client.ObjectKey{Name: audit.ClusterReportName}, u); err != nil {
		t.Fatalf("reading the ClusterReport: %v", err)
	}
	var r orv1alpha1.ClusterReport
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// resultLines renders results as "result policy/rule Kind/name pods=N", one per line in sorted order
// (the order within a report is pkg/audit's), to compare and to print.
func resultLines(results []orv1alpha1.ReportResult) string {
	var out []string
	for _, r := range results {
		s := fmt.Sprintf("%s %s/%s", r.Result, r.Policy, r.Rule)
		for _, sub := range r.Subjects {
			s += fmt.Sprintf(" %s/%s", sub.Kind, sub.Name)
		}
		out = append(out, s+" pods="+r.Properties["pods"])
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// waitReport waits until the namespace's report, as resultLines renders it, has the lines of want.
func waitReport(t *testing.T, ns, what string, lines ...string) *orv1alpha1.Report {
	t.Helper()
	lines = slices.Clone(lines)
	slices.Sort(lines)
	want := strings.Join(lines, "\n")
	var r *orv1alpha1.Report
	eventually(t, settle, what, func() (bool, string) {
		r = getReport(t, ns)
		if r == nil {
			return false, "no report"
		}
		got := resultLines(r.Results)
		return got == want, "got:\n" + got + "\nwant:\n" + want
	})
	return r
}

// findResult returns the result of a policy rule about one subject.
func findResult(t *testing.T, r *orv1alpha1.Report, policy, rule, kind, name string) orv1alpha1.ReportResult {
	t.Helper()
	for _, res := range r.Results {
		if res.Policy == policy && res.Rule == rule && len(res.Subjects) == 1 && res.Subjects[0].Kind == kind && res.Subjects[0].Name == name {
			return res
		}
	}
	t.Fatalf("no result %s/%s for %s/%s in:\n%s", policy, rule, kind, name, resultLines(r.Results))
	return orv1alpha1.ReportResult{}
}

// replicaMetric sums the samples of a metric of one replica.
func replicaMetric(t *testing.T, r *cluster.Sealgate, name string, match map[string]string) float64 {
	t.Helper()
	text, err := r.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	v, err := cluster.SumSamples(text, name, match)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// auditWrites counts every write the audit of a replica made.
func auditWrites(t *testing.T, r *cluster.Sealgate) float64 {
	t.Helper()
	return replicaMetric(t, r, "sealgate_audit_report_writes_total", nil)
}
