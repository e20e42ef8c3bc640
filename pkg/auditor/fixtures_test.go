package auditor

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	wgv1alpha2 "github.com/sealgate/sealgate/pkg/apis/wgpolicyk8s/v1alpha2"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/workload"
)

// leader is a Leadership a test switches.
type leader struct{ on atomic.Bool }

func (l *leader) Leading() bool           { return l.on.Load() }
func (l *leader) Gained() <-chan struct{} { return nil }

// noEvents is a namespace informer that never sends anything.
type noEvents struct{}

func (noEvents) AddEventHandler(cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error) {
	return nil, nil
}

func scheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme,
		orv1alpha1.AddToScheme, wgv1alpha2.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// fakeAPI is a controller-runtime client over an object tracker with the policies given.
func fakeAPI(t *testing.T, policies ...*v1alpha1.ClusterAdmissionPolicy) client.WithWatch {
	t.Helper()
	b := crfake.NewClientBuilder().WithScheme(scheme(t)).WithStatusSubresource(&v1alpha1.ClusterAdmissionPolicy{})
	for _, p := range policies {
		b = b.WithObjects(p)
	}
	return b.Build()
}

func policyObject(name string, mode v1alpha1.Mode, spec v1alpha1.PolicySpec) *v1alpha1.ClusterAdmissionPolicy {
	spec.Mode = mode
	return &v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1}, Spec: spec}
}

func compile(t *testing.T, obj *v1alpha1.ClusterAdmissionPolicy) *policy.Policy {
	t.Helper()
	p, err := policy.Compile(obj)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var forbidPrivileged = v1alpha1.PolicySpec{Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden}}

func container(privileged bool) corev1.Container {
	c := corev1.Container{Name: "c", Image: "busybox:1.37"}
	if privileged {
		c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	}
	return c
}

func controllerRef(kind, name string, uid types.UID) []metav1.OwnerReference {
	apiVersion := "apps/v1"
	if kind == "Job" || kind == "CronJob" {
		apiVersion = "batch/v1"
	}
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: ptr.To(true)}}
}

func pod(ns, name string, privileged bool, owners []metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "-" + name), OwnerReferences: owners},
		Spec: corev1.PodSpec{Containers: []corev1.Container{container(privileged)}}}
}

// deployment returns a Deployment, its ReplicaSet and its pods, owned as a controller-manager owns them.
func deployment(ns, name string, privileged bool, pods ...string) []runtime.Object {
	uid := types.UID(ns + "-" + name)
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{container(privileged)}}}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: uid}, Spec: appsv1.DeploymentSpec{Template: tmpl}}
	rsUID := types.UID(ns + "-" + name + "-rs")
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-rs", UID: rsUID,
		OwnerReferences: controllerRef("Deployment", name, uid)}, Spec: appsv1.ReplicaSetSpec{Template: tmpl}}
	out := []runtime.Object{d, rs}
	for _, p := range pods {
		out = append(out, pod(ns, p, privileged, controllerRef("ReplicaSet", rs.Name, rsUID)))
	}
	return out
}

// fakeInformers are informers over client-go's fake clientset, which has no REST client for the
// paged lists of NewInformers: typed informers whose transform makes the same Objects.
func fakeInformers(t *testing.T, cs *fake.Clientset) *Informers {
	t.Helper()
	typed := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTransform(audit.Transform))
	in, err := newInformers(func(k workload.Kind) (cache.SharedIndexInformer, error) {
		gi, err := typed.ForResource(k.GVK.GroupVersion().WithResource(k.Resource))
		if err != nil {
			return nil, err
		}
		return gi.Informer(), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// started returns informers over cs, started until the test ends, and synced; before is called
// before they start (to register handlers).
//
// Synced is not enough for a test that then changes objects: the informers count as synced once
// their first list is stored, possibly before their watches open, and the fake tracker, unlike the
// API server, replays no deletion into a late watch. So started also waits until every informer's
// watch has opened. The fake clientset runs its reactors under one lock, so a change made after that
// reaches the watch.
func started(t *testing.T, cs *fake.Clientset, before func(*Informers)) *Informers {
	t.Helper()
	var watches atomic.Int64
	cs.PrependWatchReactor("*", func(k8stesting.Action) (bool, watch.Interface, error) {
		watches.Add(1)
		return false, nil, nil
	})
	in := fakeInformers(t, cs)
	if before != nil {
		before(in)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	t.Cleanup(func() { cancel(); <-done })
	go func() { done <- in.Start(ctx) }()
	select {
	case <-in.Ready():
	case err := <-done:
		t.Fatalf("informers stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("informers did not sync")
	}
	eventually(t, "every informer's watch open", func() (bool, string) {
		n := watches.Load()
		return n >= int64(len(in.kinds)), fmt.Sprintf("%d of %d watches", n, len(in.kinds))
	})
	return in
}

// eventually polls f until it holds, failing with its last word after a deadline.
func eventually(t *testing.T, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, last := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
