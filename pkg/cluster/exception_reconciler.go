package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

// expiryMargin is added to the wait for an exception's expiry, so that the reconcile it schedules
// finds it expired rather than a moment early.
const expiryMargin = 100 * time.Millisecond

// ExceptionReconciler puts each PolicyException in force, in this replica's ExceptionStore, and, on
// the elected replica only, writes its status: Ready True, or False with reason Invalid, Expired or
// NotAllowed. Every replica runs it, because every replica serves admissions from its own store. It
// reconciles an exception again at its expiry, so that the store and the status say so then, and
// when a policy it names changes, because whether that policy accepts it may change.
type ExceptionReconciler struct {
	Client client.Client
	Store  *ExceptionStore
	// Rules are the rules an exception may name (CompileException).
	Rules *rules.Registry
	// Namespace is sealgate's own: where policies accept exceptions from by default.
	Namespace string
	Leader    Leadership
	Log       logr.Logger
	// Now is the clock of expiry; nil is time.Now.
	Now func() time.Time
}

// SetupExceptions registers, on mgr, the start-up load of PolicyExceptions, the reconciler that
// feeds store, and the status writer of the leading replica. When the PolicyException CRD is not
// installed (a chart upgrade does not install new CRDs from crds/), it logs that exceptions are off
// and marks store loaded and empty: without exceptions sealgate only denies more, and the webhook
// keeps serving.
func SetupExceptions(mgr ctrl.Manager, store *ExceptionStore, reg *rules.Registry, namespace string, leader Leadership, log logr.Logger) error {
	gk := schema.GroupKind{Group: v1alpha1.GroupVersion.Group, Kind: v1alpha1.ExceptionKind}
	if _, err := mgr.GetRESTMapper().RESTMapping(gk, v1alpha1.GroupVersion.Version); err != nil {
		if !meta.IsNoMatchError(err) {
			return fmt.Errorf("looking up the PolicyException API: %w", err)
		}
		log.Error(err, "the PolicyException CRD is not installed: no exception applies until it is and sealgate restarts "+
			"(kubectl apply the chart's crds/sealgate.dev_policyexceptions.yaml)")
		store.MarkLoaded()
		return nil
	}
	r := &ExceptionReconciler{Client: mgr.GetClient(), Store: store, Rules: reg, Namespace: namespace, Leader: leader, Log: log}
	return r.SetupWithManager(mgr)
}

// SetupWithManager registers the reconciler, the start-up load and the sweep on election.
func (r *ExceptionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.Add(&exceptionLoad{r: r, reader: mgr.GetClient(), cache: mgr.GetCache()}); err != nil {
		return err
	}
	sweep := make(chan event.GenericEvent)
	if err := mgr.Add(&exceptionSweep{r: r, reader: mgr.GetClient(), cache: mgr.GetCache(), events: sweep}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.PolicyException{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.ClusterAdmissionPolicy{}, handler.EnqueueRequestsFromMapFunc(r.naming), builder.WithPredicates(reconcileOn)).
		WatchesRawSource(source.Channel(sweep, &handler.EnqueueRequestForObject{})).
		Named("policyexception").
		WithOptions(controllerOptions()).
		Complete(r)
}

func (r *ExceptionReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile implements reconcile.Reconciler.
func (r *ExceptionReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	id := req.Namespace + "/" + req.Name
	var obj v1alpha1.PolicyException
	if err := r.Client.Get(ctx, req.NamespacedName, &obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.Store.Delete(id)
			r.Log.Info("exception removed", "exception", id)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	x, err := CompileException(&obj, r.Rules)
	if err != nil {
		r.Store.Delete(id)
		r.Log.Info("invalid exception; not in force", "exception", id, "generation", obj.Generation, "error", err.Error())
	} else {
		r.Store.Put(x)
		r.Log.Info("exception in force", "exception", id, "generation", obj.Generation, "expired", x.Expired(r.now()))
	}
	var res reconcile.Result
	if now := r.now(); x != nil && !x.Expires.IsZero() && now.Before(x.Expires) {
		res.RequeueAfter = x.Expires.Sub(now) + expiryMargin
	}
	return res, r.writeStatus(ctx, &obj, x, err)
}

// writeStatus writes the exception's status on the elected replica, and only when it differs.
func (r *ExceptionReconciler) writeStatus(ctx context.Context, obj *v1alpha1.PolicyException, x *policy.Exception, invalid error) error {
	if r.Leader == nil || !r.Leader.Leading() {
		return nil
	}
	v := exceptionVerdict{x: x, err: invalid}
	if x != nil {
		var lookupErr error
		v.ignoredBy, v.missing = x.Acceptance(func(name string) *policy.Policy {
			p, err := r.policyInForce(ctx, name)
			if err != nil && lookupErr == nil {
				lookupErr = err
			}
			return p
		}, r.Namespace)
		if lookupErr != nil {
			return lookupErr
		}
	}
	want := desiredExceptionStatus(obj, v, r.now())
	if exceptionStatusEqual(obj.Status, want) {
		return nil
	}
	patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	obj.Status = want
	if err := r.Client.Status().Patch(ctx, obj, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("writing status of exception %q: %w", obj.Namespace+"/"+obj.Name, err)
	}
	return nil
}

// policyInForce is the generation of a policy that every replica enforces (Decide), nil when there
// is none or the policy does not exist.
func (r *ExceptionReconciler) policyInForce(ctx context.Context, name string) (*policy.Policy, error) {
	var p v1alpha1.ClusterAdmissionPolicy
	if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, &p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading policy %q: %w", name, err)
	}
	return Decide(&p).Policy, nil
}

// naming maps a policy to the exceptions that name it.
func (r *ExceptionReconciler) naming(ctx context.Context, obj client.Object) []reconcile.Request {
	var list v1alpha1.PolicyExceptionList
	if err := r.Client.List(ctx, &list); err != nil {
		r.Log.Error(err, "listing exceptions after a policy change", "policy", obj.GetName())
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		x := &list.Items[i]
		for _, p := range x.Spec.Policies {
			if p.Name == obj.GetName() {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: x.Namespace, Name: x.Name}})
				break
			}
		}
	}
	return out
}

// exceptionLoad puts in force every exception that exists at start-up before the store reports
// loaded, so that the webhook never answers with a partial set. It decides as the reconciler does.
type exceptionLoad struct {
	r      *ExceptionReconciler
	reader client.Reader
	cache  cacheSyncer
}

func (l *exceptionLoad) Start(ctx context.Context) error {
	if !l.cache.WaitForCacheSync(ctx) {
		return fmt.Errorf("exception cache did not sync")
	}
	var list v1alpha1.PolicyExceptionList
	if err := l.reader.List(ctx, &list); err != nil {
		return fmt.Errorf("listing exceptions: %w", err)
	}
	for i := range list.Items {
		if x, err := CompileException(&list.Items[i], l.r.Rules); err == nil {
			l.r.Store.Put(x)
		}
	}
	l.r.Store.MarkLoaded()
	l.r.Log.Info("exceptions loaded from the cluster", "count", len(list.Items))
	return nil
}

// NeedLeaderElection: every replica serves admissions, so every replica loads exceptions.
func (l *exceptionLoad) NeedLeaderElection() bool { return false }

// exceptionSweep enqueues every exception each time this replica becomes the leader, so that a
// status left stale while no replica led is written. It polls Leading, as the audit does: the one
// value of Leadership.Gained is the policy sweep's.
type exceptionSweep struct {
	r      *ExceptionReconciler
	reader client.Reader
	cache  cacheSyncer
	events chan<- event.GenericEvent
}

func (s *exceptionSweep) Start(ctx context.Context) error {
	if s.r.Leader == nil || !s.cache.WaitForCacheSync(ctx) {
		return nil
	}
	tick := time.NewTicker(leaderPoll)
	defer tick.Stop()
	led := false
	for {
		leading := s.r.Leader.Leading()
		if leading && !led {
			// A failed list is retried at the next tick, never returned: an error would stop the
			// manager, and with it a replica that serves admissions.
			if err := s.sweep(ctx); err != nil {
				s.r.Log.Error(err, "listing exceptions after the election; retrying")
				leading = false
			}
		}
		led = leading
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (s *exceptionSweep) sweep(ctx context.Context) error {
	var list v1alpha1.PolicyExceptionList
	if err := s.reader.List(ctx, &list); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	enqueueAll(ctx, list.Items, s.events)
	return nil
}

// NeedLeaderElection: it follows the elector itself, so that it runs on every replica.
func (s *exceptionSweep) NeedLeaderElection() bool { return false }

// leaderPoll is how often the exception sweep looks whether this replica leads.
const leaderPoll = time.Second
