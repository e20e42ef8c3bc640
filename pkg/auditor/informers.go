// Package auditor runs the background audit of `sealgate serve` in cluster mode: informers on every
// pod-bearing kind that keep only what the rules read, a scanner on the elected replica that keeps
// one Report per namespace, a ClusterReport and each policy's status.audit current, and the
// what-if warnings answered on a policy change. The evaluation itself is pkg/audit's.
package auditor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/workload"
)

// Informers watches every pod-bearing kind and stores each object as an *audit.Object, which holds
// only what the rules read, so that memory follows what is checked. Lists are paged and decoded
// straight from JSON into Objects (audit.ListAll), and watch events are turned into Objects as they
// arrive (audit.Watch): no informer ever holds a whole typed list, which is what a first list costs
// otherwise. They run on every replica: any replica may answer the what-if of a policy change.
type Informers struct {
	// kinds are in audit.KindOrder: controllers before what they own, pods last.
	kinds []kindInformer
	// handlers are OnChange's; Synced waits until each has seen the first list.
	handlers []cache.ResourceEventHandlerRegistration
	synced   atomic.Bool
	ready    chan struct{}
}

type kindInformer struct {
	kind     workload.Kind
	informer cache.SharedIndexInformer
}

// NewInformers registers an informer for each pod-bearing kind, in audit.KindOrder. Start them
// with Start.
func NewInformers(cs kubernetes.Interface) (*Informers, error) {
	return newInformers(func(k workload.Kind) (cache.SharedIndexInformer, error) {
		c := audit.RESTClient(cs, k)
		if c == nil {
			return nil, fmt.Errorf("informer for %s: the client has no REST client", k.Resource)
		}
		lw := &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
				return audit.ListAll(ctx, c, k, opts, audit.PageSize)
			},
			WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
				return audit.Watch(ctx, c, k, opts)
			},
		}
		return cache.NewSharedIndexInformer(lw, &audit.Object{}, 0,
			cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}), nil
	})
}

// newInformers makes the informer of each kind with inform; its store must hold *audit.Object and
// index by namespace.
func newInformers(inform func(workload.Kind) (cache.SharedIndexInformer, error)) (*Informers, error) {
	in := &Informers{ready: make(chan struct{})}
	for _, k := range audit.OrderedKinds() {
		inf, err := inform(k)
		if err != nil {
			return nil, err
		}
		in.kinds = append(in.kinds, kindInformer{kind: k, informer: inf})
	}
	return in, nil
}

// Start runs the informers until ctx ends. It implements manager.Runnable; the webhook's readiness
// never waits for it.
func (in *Informers) Start(ctx context.Context) error {
	for _, k := range in.kinds {
		go k.informer.RunWithContext(ctx)
	}
	for _, k := range in.kinds {
		if !cache.WaitForCacheSync(ctx.Done(), k.informer.HasSynced) && ctx.Err() == nil {
			return fmt.Errorf("the audit informer for %s did not sync", k.kind.Resource)
		}
	}
	synced := make([]cache.InformerSynced, 0, len(in.handlers))
	for _, h := range in.handlers {
		synced = append(synced, h.HasSynced)
	}
	// Synced only once every handler has had the first list's events, so that a handler can tell
	// them (covered by the first full scan) from later changes.
	if cache.WaitForCacheSync(ctx.Done(), synced...) {
		in.synced.Store(true)
		close(in.ready)
	}
	<-ctx.Done()
	return nil
}

// NeedLeaderElection: every replica runs the informers.
func (in *Informers) NeedLeaderElection() bool { return false }

// Synced reports whether every informer has its first list.
func (in *Informers) Synced() bool { return in.synced.Load() }

// Ready is closed once every informer has its first list.
func (in *Informers) Ready() <-chan struct{} { return in.ready }

// OnChange calls f with the namespace of every object added, deleted, or changed in what the audit
// reads (an update of a pod's status alone is no change). Call it before Start.
func (in *Informers) OnChange(f func(namespace string)) error {
	h := cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(*audit.Object); ok {
				f(o.Namespace)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*audit.Object)
			n, ok2 := newObj.(*audit.Object)
			if ok1 && ok2 && sameAudit(o, n) {
				return
			}
			if ok2 {
				f(n.Namespace)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				if ns, _, err := cache.SplitMetaNamespaceKey(t.Key); err == nil {
					f(ns)
				}
				return
			}
			if o, ok := obj.(*audit.Object); ok {
				f(o.Namespace)
			}
		},
	}
	for _, k := range in.kinds {
		reg, err := k.informer.AddEventHandler(h)
		if err != nil {
			return fmt.Errorf("watching %s: %w", k.kind.Resource, err)
		}
		in.handlers = append(in.handlers, reg)
	}
	return nil
}

// sameAudit reports whether two versions of an object audit the same: same workload and controller.
func sameAudit(a, b *audit.Object) bool {
	return a.UID == b.UID && apiequality.Semantic.DeepEqual(a.Owner, b.Owner) &&
		apiequality.Semantic.DeepEqual(a.Workload, b.Workload)
}

// Namespaces lists the namespaces that hold at least one pod-bearing object, in name order.
func (in *Informers) Namespaces() []string {
	seen := map[string]bool{}
	for _, k := range in.kinds {
		for _, ns := range k.informer.GetIndexer().ListIndexFuncValues(cache.NamespaceIndex) {
			seen[ns] = true
		}
	}
	out := make([]string, 0, len(seen))
	for ns := range seen {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// Objects returns the objects of one namespace in the order Auditor.Add needs (audit.KindOrder), by
// name within a kind.
func (in *Informers) Objects(namespace string) []*audit.Object {
	var out []*audit.Object
	for _, k := range in.kinds {
		items, err := k.informer.GetIndexer().ByIndex(cache.NamespaceIndex, namespace)
		if err != nil {
			continue // the namespace index is registered by the factory, so this does not happen
		}
		start := len(out)
		for _, it := range items {
			if o, ok := it.(*audit.Object); ok {
				out = append(out, o)
			}
		}
		slices.SortFunc(out[start:], func(a, b *audit.Object) int { return strings.Compare(a.Name, b.Name) })
	}
	return out
}

// Len counts the objects the informers hold.
func (in *Informers) Len() int {
	n := 0
	for _, k := range in.kinds {
		n += len(k.informer.GetIndexer().ListKeys())
	}
	return n
}
