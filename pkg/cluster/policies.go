package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

// PolicyReconciler puts in force, in this replica's Store, the generation of each
// ClusterAdmissionPolicy that Decide picks, and, on the elected replica only, writes it to status.
// Every replica runs it, because every replica serves admissions from its own Store.
type PolicyReconciler struct {
	Client client.Client
	Store  *Store
	Log    logr.Logger
	// Leader says whether this replica may write status now. One writer means replicas never
	// rewrite each other's status; nil never writes.
	Leader Leadership
	// Conditions, when set, is synced on the elected replica after a policy is put in force and
	// before its status is written: a policy reported in force is one the API server sends requests
	// for, not one the webhook's matchConditions still skip.
	Conditions ConditionSyncer
}

// ConditionSyncer writes the webhook's matchConditions for the policies in force (MatchConditionSync).
type ConditionSyncer interface {
	Sync(ctx context.Context) error
}

// SetupPolicies registers, on mgr, the start-up load, the reconciler that feeds store, and the
// status writer of the leading replica.
func SetupPolicies(mgr ctrl.Manager, store *Store, leader Leadership, conditions ConditionSyncer, log logr.Logger) error {
	r := &PolicyReconciler{Client: mgr.GetClient(), Store: store, Log: log, Leader: leader, Conditions: conditions}
	return r.SetupWithManager(mgr)
}

// SetupWithManager registers the reconciler, the start-up load and the sweep on election.
func (r *PolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.Add(&initialLoad{r: r, reader: mgr.GetClient(), cache: mgr.GetCache()}); err != nil {
		return err
	}
	sweep := make(chan event.GenericEvent)
	if err := mgr.Add(&sweepOnElection{log: r.Log, leader: r.Leader, reader: mgr.GetClient(), cache: mgr.GetCache(), events: sweep}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ClusterAdmissionPolicy{}, builder.WithPredicates(reconcileOn)).
		WatchesRawSource(source.Channel(sweep, &handler.EnqueueRequestForObject{})).
		Named("clusteradmissionpolicy").
		WithOptions(controllerOptions()).
		Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *PolicyReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var obj v1alpha1.ClusterAdmissionPolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.Store.Delete(req.Name)
			r.Log.Info("policy removed", "policy", req.Name)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	d := r.apply(&obj)
	if r.Conditions != nil && r.elected() {
		if err := r.Conditions.Sync(ctx); err != nil {
			return reconcile.Result{}, err // status waits: retried with backoff
		}
	}
	return reconcile.Result{}, r.writeStatus(ctx, &obj, d)
}

// apply puts in force what Decide picks for obj, and takes the policy out of force when it picks
// nothing: what this replica enforced before never counts.
func (r *PolicyReconciler) apply(obj *v1alpha1.ClusterAdmissionPolicy) InForce {
	d := Decide(obj)
	if d.Policy != nil {
		r.Store.Put(d.Policy)
	} else {
		r.Store.Delete(obj.Name)
	}
	switch {
	case d.Invalid == nil:
		r.Log.Info("policy in force", "policy", obj.Name, "generation", obj.Generation, "mode", d.Policy.Mode)
	case d.Policy != nil:
		r.Log.Info("invalid policy; the recorded generation stays in force", "policy", obj.Name,
			"generation", obj.Generation, "inForce", d.Policy.Generation, "error", d.Invalid.Error())
	default:
		r.Log.Info("invalid policy; not in force", "policy", obj.Name, "generation", obj.Generation,
			"error", d.Invalid.Error())
	}
	return d
}

func (r *PolicyReconciler) elected() bool {
	return r.Leader != nil && r.Leader.Leading()
}

// writeStatus writes d into obj's status on the elected replica, and only when it differs from what
// is there, so that each change settles after a bounded number of writes.
func (r *PolicyReconciler) writeStatus(ctx context.Context, obj *v1alpha1.ClusterAdmissionPolicy, d InForce) error {
	if !r.elected() {
		return nil
	}
	want := desiredStatus(obj, d)
	if statusEqual(obj.Status, want) {
		return nil
	}
	// The optimistic lock ties the record to the object version it was decided from: a write based
	// on a stale cache fails with a conflict and is decided again.
	patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	obj.Status = want
	if err := r.Client.Status().Patch(ctx, obj, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("writing status of policy %q: %w", obj.Name, err)
	}
	return nil
}

// initialLoad puts in force every policy that exists at start-up before the store reports loaded,
// so that the webhook never answers with a partial policy set. It decides as the reconciler does.
type initialLoad struct {
	r      *PolicyReconciler
	reader client.Reader
	cache  cacheSyncer
}

type cacheSyncer interface {
	WaitForCacheSync(context.Context) bool
}

func (l *initialLoad) Start(ctx context.Context) error {
	if !l.cache.WaitForCacheSync(ctx) {
		return fmt.Errorf("policy cache did not sync")
	}
	var list v1alpha1.ClusterAdmissionPolicyList
	if err := l.reader.List(ctx, &list); err != nil {
		return fmt.Errorf("listing policies: %w", err)
	}
	for i := range list.Items {
		if d := Decide(&list.Items[i]); d.Policy != nil {
			l.r.Store.Put(d.Policy)
		}
	}
	l.r.Store.MarkLoaded()
	l.r.Log.Info("policies loaded from the cluster", "count", len(list.Items))
	return nil
}

// NeedLeaderElection: every replica serves admissions, so every replica loads policies.
func (l *initialLoad) NeedLeaderElection() bool { return false }

// sweepOnElection enqueues every policy each time this replica becomes the leader. Status is written
// only on a change, so a status left stale (a change made while no replica led, or a leader that
// stopped between putting a policy in force and writing it) is written by the next leader.
type sweepOnElection struct {
	log    logr.Logger
	leader Leadership
	reader client.Reader
	cache  cacheSyncer
	events chan<- event.GenericEvent
}

func (s *sweepOnElection) Start(ctx context.Context) error {
	if s.leader == nil {
		return nil
	}
	if !s.cache.WaitForCacheSync(ctx) {
		return nil // stopping
	}
	for {
		select {
		case <-s.leader.Gained():
		case <-ctx.Done():
			return nil
		}
		// A failed list is retried, never returned: an error would stop the manager, and with it a
		// replica that serves admissions.
		for err := s.sweep(ctx); err != nil; err = s.sweep(ctx) {
			s.log.Error(err, "listing policies after the election; retrying")
			select {
			case <-time.After(retryPeriod):
			case <-ctx.Done():
				return nil
			}
		}
	}
}

func (s *sweepOnElection) sweep(ctx context.Context) error {
	var list v1alpha1.ClusterAdmissionPolicyList
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
func (s *sweepOnElection) NeedLeaderElection() bool { return false }

// enqueueAll sends every listed object to events, for a sweep after an election; it stops when ctx
// ends.
func enqueueAll[T any, PT interface {
	*T
	client.Object
}](ctx context.Context, items []T, events chan<- event.GenericEvent) {
	for i := range items {
		select {
		case events <- event.GenericEvent{Object: PT(&items[i])}:
		case <-ctx.Done():
			return
		}
	}
}
