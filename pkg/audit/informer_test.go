package audit_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/sealgate/sealgate/pkg/audit"
)

// TestInformerStoresObjects runs client-go's informers with the audit transform, over a fake
// clientset: the stores hold audit Objects, keyed as usual, and follow creations and deletions.
func TestInformerStoresObjects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The fake clientset sets resource versions, as the API server does; its watches resume from them.
	pod := typedPod("prod", "web-1", spec(goodImage, false), controller("apps/v1", "ReplicaSet", "web-abc"))
	deployment := typedDeployment("prod", "web", spec(goodImage, true))
	created := typedPod("prod", "web-2", spec(latestImage, false))
	for _, m := range []*metav1.ObjectMeta{&pod.ObjectMeta, &deployment.ObjectMeta, &created.ObjectMeta} {
		m.ResourceVersion = ""
	}
	cs := fake.NewClientset(pod, deployment)
	f := informers.NewSharedInformerFactory(cs, 0)
	pods := f.Core().V1().Pods().Informer()
	deployments := f.Apps().V1().Deployments().Informer()
	for _, inf := range []cache.SharedIndexInformer{pods, deployments} {
		if err := inf.SetTransform(audit.Transform); err != nil {
			t.Fatal(err)
		}
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	defer cancel() // Shutdown waits for the informers, which stop when the context ends
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("informer for %v did not sync", typ)
		}
	}

	get := func(inf cache.SharedIndexInformer, key string) *audit.Object {
		t.Helper()
		obj, exists, err := inf.GetStore().GetByKey(key)
		if err != nil || !exists {
			return nil
		}
		o, ok := obj.(*audit.Object)
		if !ok {
			t.Fatalf("store holds %T, want *audit.Object", obj)
		}
		return o
	}
	if o := get(pods, "prod/web-1"); o == nil || o.Owner == nil || o.Owner.Name != "web-abc" || !o.IsPod() {
		t.Errorf("pod in store = %+v", o)
	}
	if o := get(deployments, "prod/web"); o == nil || o.Kind != "Deployment" || o.Workload.Spec.Containers[0].SecurityContext == nil {
		t.Errorf("deployment in store = %+v", o)
	}
	byNS, err := pods.GetIndexer().ByIndex(cache.NamespaceIndex, "prod")
	if err != nil || len(byNS) != 1 {
		t.Errorf("namespace index = %v, %v", byNS, err)
	}

	// The creation is awaited before the deletion: the informers have synced once their list is in
	// the store, which can be before their watch is open, and the fake tracker, unlike the API server,
	// replays only the objects that still exist when a watch opens, never a deletion. Once the created
	// pod is in the store, the watch is open and the deletion reaches it.
	if _, err := cs.CoreV1().Pods("prod").Create(ctx, created, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, func(context.Context) (bool, error) {
		return get(pods, "prod/web-2") != nil, nil
	})
	if err != nil {
		t.Fatalf("the store did not follow a creation: %v; keys %v", err, pods.GetStore().ListKeys())
	}
	if err := cs.CoreV1().Pods("prod").Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, func(context.Context) (bool, error) {
		return get(pods, "prod/web-1") == nil, nil
	})
	if err != nil {
		t.Fatalf("the store did not follow a deletion: %v; keys %v", err, pods.GetStore().ListKeys())
	}
	if o := get(pods, "prod/web-2"); o.Workload.Spec.Containers[0].Image != latestImage {
		t.Errorf("created pod in store = %+v", o.Workload.Spec)
	}
}
