package audit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

// The fixtures build typed objects as client-go delivers them and turn them into audit Objects
// with FromTyped, so that every test goes through the decoder the audit really uses.

const (
	goodImage   = "registry.example.com/app:1"
	latestImage = "registry.example.com/app:latest"
	evilImage   = "evil.example.com/app:1"
)

// compile compiles a policy from its spec with pkg/policy, as the webhook does.
func compile(t testing.TB, name string, spec v1alpha1.PolicySpec) *policy.Policy {
	t.Helper()
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec})
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return p
}

// denyPrivileged, warnLatest and auditRegistries are one policy per mode, each failing on one
// kind of container below.
func denyPrivileged(t testing.TB) *policy.Policy {
	return compile(t, "deny-privileged", v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce,
		Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden}})
}

func warnLatest(t testing.TB) *policy.Policy {
	return compile(t, "warn-latest", v1alpha1.PolicySpec{Mode: v1alpha1.ModeWarn,
		Images: &v1alpha1.ImageRules{DisallowLatestTag: true}})
}

func auditRegistries(t testing.TB) *policy.Policy {
	return compile(t, "audit-registries", v1alpha1.PolicySpec{Mode: v1alpha1.ModeAudit,
		Images:     &v1alpha1.ImageRules{AllowedRegistries: []string{"registry.example.com/**"}},
		Containers: &v1alpha1.ContainerRules{HostNamespaces: v1alpha1.Forbidden}})
}

func threePolicies(t testing.TB) []*policy.Policy {
	return []*policy.Policy{denyPrivileged(t), warnLatest(t), auditRegistries(t)}
}

func newAuditor(policies []*policy.Policy) *audit.Auditor {
	return &audit.Auditor{Engine: &engine.Engine{Rules: rules.Default()}, Policies: policies}
}

// spec is a pod spec of one container "app".
func spec(image string, privileged bool) corev1.PodSpec {
	c := corev1.Container{Name: "app", Image: image}
	if privileged {
		c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	}
	return corev1.PodSpec{Containers: []corev1.Container{c}}
}

func uid(kind, name string) types.UID { return types.UID("uid-" + kind + "-" + name) }

// controller is a controller owner reference to an object of a built-in kind.
func controller(apiVersion, kind, name string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid(kind, name),
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

func meta(ns, kind, name string, owners ...metav1.OwnerReference) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: uid(kind, name), ResourceVersion: "42",
		Labels: map[string]string{"app": name}, OwnerReferences: owners}
}

func template(s corev1.PodSpec) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"tier": "web"}}, Spec: s}
}

func typedPod(ns, name string, s corev1.PodSpec, owners ...metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: meta(ns, "Pod", name, owners...), Spec: s}
}

func typedDeployment(ns, name string, s corev1.PodSpec, owners ...metav1.OwnerReference) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: meta(ns, "Deployment", name, owners...),
		Spec: appsv1.DeploymentSpec{Template: template(s)}}
}

func typedReplicaSet(ns, name string, s corev1.PodSpec, owners ...metav1.OwnerReference) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: meta(ns, "ReplicaSet", name, owners...),
		Spec: appsv1.ReplicaSetSpec{Template: template(s)}}
}

func typedJob(ns, name string, s corev1.PodSpec, owners ...metav1.OwnerReference) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: meta(ns, "Job", name, owners...), Spec: batchv1.JobSpec{Template: template(s)}}
}

func typedCronJob(ns, name string, s corev1.PodSpec) *batchv1.CronJob {
	return &batchv1.CronJob{ObjectMeta: meta(ns, "CronJob", name), Spec: batchv1.CronJobSpec{Schedule: "@daily",
		JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template(s)}}}}
}

// object turns a typed object into an audit Object, failing the test on error.
func object(t testing.TB, obj runtime.Object) *audit.Object {
	t.Helper()
	o, err := audit.FromTyped(obj)
	if err != nil {
		t.Fatalf("FromTyped(%T): %v", obj, err)
	}
	return o
}

func objects(t testing.TB, objs ...runtime.Object) []*audit.Object {
	t.Helper()
	out := make([]*audit.Object, len(objs))
	for i, obj := range objs {
		out[i] = object(t, obj)
	}
	return out
}

// run audits the objects in the order given and finishes the result.
func run(t testing.TB, a *audit.Auditor, objs []*audit.Object) (*audit.Result, []*audit.Entry, *audit.Summary) {
	t.Helper()
	r := audit.NewResult()
	for _, o := range objs {
		a.Add(context.Background(), r, o)
	}
	entries, s := r.Finish()
	return r, entries, s
}

// entryView is what a test compares of an Entry: its identity, its pods and its findings, each
// as "object|policy/rule|path" (object empty for the top object's own findings).
type entryView struct {
	Ref      string
	UID      types.UID
	Pods     int
	Allowed  bool
	Findings []string
	Omitted  int
}

func view(entries []*audit.Entry) []entryView {
	out := make([]entryView, 0, len(entries))
	for _, e := range entries {
		v := entryView{Ref: fmt.Sprintf("%s %s %s/%s", e.APIVersion, e.Kind, e.Namespace, e.Name), UID: e.UID,
			Pods: e.Pods, Allowed: e.Allowed, Findings: []string{}, Omitted: e.OmittedViolations}
		for _, f := range e.Violations {
			v.Findings = append(v.Findings, fmt.Sprintf("%s|%s/%s|%s", f.Object, f.Policy, f.Rule, f.Path))
		}
		out = append(out, v)
	}
	return out
}

// namespaces answers namespace label lookups from a map, as a namespace informer would; a namespace
// in broken fails.
type namespaces struct {
	labels map[string]map[string]string
	broken map[string]bool
}

func (n *namespaces) Labels(_ context.Context, name string) (map[string]string, error) {
	if n.broken[name] {
		return nil, errors.New("connection refused")
	}
	l, ok := n.labels[name]
	if !ok {
		return nil, fmt.Errorf("namespace %q not found", name)
	}
	return l, nil
}

// nsLabels returns the labels the API server gives a namespace, plus extra.
func nsLabels(name string, extra ...string) map[string]string {
	l := map[string]string{"kubernetes.io/metadata.name": name}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}
