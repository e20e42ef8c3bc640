package auditor

import (
	"context"
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/workload"
)

// The informers cover every pod-bearing kind, store only *audit.Object, and hand a namespace's
// objects in the order Auditor.Add needs.
func TestInformersOrderAndStore(t *testing.T) {
	if got := audit.OrderedKinds(); len(got) != len(workload.Kinds) {
		t.Fatalf("%d kinds watched, want %d", len(got), len(workload.Kinds))
	}
	in := started(t, fake.NewClientset(objects()...), nil)
	var kinds, names []string
	for _, o := range in.Objects("team") {
		kinds, names = append(kinds, o.Kind), append(names, o.Name)
		if o.Workload == nil || o.Workload.Spec == nil {
			t.Errorf("%s/%s: no workload", o.Kind, o.Name)
		}
	}
	want := []string{"Deployment", "ReplicaSet", "Pod", "Pod", "Pod", "Pod"}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds %v (%v), want %v", kinds, names, want)
	}
	if !slices.IsSortedFunc(kinds, func(a, b string) int { return slices.Index(audit.KindOrder, a) - slices.Index(audit.KindOrder, b) }) {
		t.Errorf("kinds %v out of audit.KindOrder", kinds)
	}
	if got := in.Namespaces(); !slices.Equal(got, []string{"kube-system", "team"}) {
		t.Errorf("namespaces %v", got)
	}
	if n := in.Len(); n != 7 {
		t.Errorf("Len = %d, want 7", n)
	}
}

// A change to what the audit does not read (a pod's status) is no change; a label is.
func TestInformersOnChangeSkipsStatus(t *testing.T) {
	cs := fake.NewClientset(objects()...)
	var mu sync.Mutex
	var got []string
	changed := make(chan struct{}, 16)
	started(t, cs, func(in *Informers) {
		if err := in.OnChange(func(ns string) {
			mu.Lock()
			got = append(got, ns)
			mu.Unlock()
			changed <- struct{}{}
		}); err != nil {
			t.Fatal(err)
		}
	})
	// The first list's events came before Ready.
	mu.Lock()
	initial := len(got)
	mu.Unlock()
	ctx := context.Background()
	p, err := cs.CoreV1().Pods("team").Get(ctx, "clean", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	if p, err = cs.CoreV1().Pods("team").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Then a label change, in another namespace to tell the two apart.
	q, err := cs.CoreV1().Pods("kube-system").Get(ctx, "proxy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.Labels = map[string]string{"tier": "node"}
	if _, err := cs.CoreV1().Pods("kube-system").Update(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Events of one informer come in order: once the label change is seen, the status change was
	// seen before it, if it was to be.
	for {
		<-changed
		mu.Lock()
		done := len(got) > initial && got[len(got)-1] == "kube-system"
		mu.Unlock()
		if done {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got[initial:], []string{"kube-system"}) {
		t.Errorf("changes after the first list: %v, want only the label change in kube-system", got[initial:])
	}
}
