package cluster

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
)

// Condition type and reasons written to ClusterAdmissionPolicy status.
const (
	ConditionReady = "Ready"
	ReasonInForce  = "InForce"
	ReasonInvalid  = "Invalid"
)

// PolicyReconciler compiles each ClusterAdmissionPolicy into the Store and reports in its status
// whether it is in force. An invalid update keeps the last valid generation in force (the webhook
// for policies normally rejects it first), so a typo never switches a policy off.
type PolicyReconciler struct {
	Client client.Client
	Store  *Store
	Log    logr.Logger
	// WriteStatus is false for replicas that should not write status (all replicas may; writes are
	// idempotent).
	WriteStatus bool
}

// SetupWithManager registers the reconciler and the start-up load.
func (r *PolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.Add(&initialLoad{r: r, reader: mgr.GetClient(), cache: mgr.GetCache()}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ClusterAdmissionPolicy{}).
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
	return reconcile.Result{}, r.apply(ctx, &obj)
}

func (r *PolicyReconciler) apply(ctx context.Context, obj *v1alpha1.ClusterAdmissionPolicy) error {
	cond := metav1.Condition{Type: ConditionReady, ObservedGeneration: obj.Generation}
	compiled, err := policy.Compile(obj)
	if err != nil {
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInvalid
		cond.Message = err.Error()
		if prev, ok := r.Store.Get(obj.Name); ok {
			cond.Message += fmt.Sprintf("; generation %d stays in force", prev.Generation)
		} else {
			cond.Message += "; the policy is not in force"
		}
		r.Log.Info("invalid policy", "policy", obj.Name, "generation", obj.Generation, "error", err.Error())
	} else {
		r.Store.Put(compiled)
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonInForce
		cond.Message = fmt.Sprintf("generation %d is in force in %s mode", obj.Generation, compiled.Mode)
		r.Log.Info("policy in force", "policy", obj.Name, "generation", obj.Generation, "mode", compiled.Mode)
	}
	if !r.WriteStatus {
		return nil
	}
	return r.writeStatus(ctx, obj, cond)
}

func (r *PolicyReconciler) writeStatus(ctx context.Context, obj *v1alpha1.ClusterAdmissionPolicy, cond metav1.Condition) error {
	if old := meta.FindStatusCondition(obj.Status.Conditions, ConditionReady); old != nil &&
		old.Status == cond.Status && old.Reason == cond.Reason && old.Message == cond.Message &&
		old.ObservedGeneration == cond.ObservedGeneration && obj.Status.ObservedGeneration == obj.Generation {
		return nil
	}
	patch := client.MergeFrom(obj.DeepCopy())
	meta.SetStatusCondition(&obj.Status.Conditions, cond)
	obj.Status.ObservedGeneration = obj.Generation
	if err := r.Client.Status().Patch(ctx, obj, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("writing status of policy %q: %w", obj.Name, err)
	}
	return nil
}

// initialLoad compiles every policy that exists at start-up before the store reports loaded, so that
// the webhook never answers with a partial policy set.
type initialLoad struct {
	r      *PolicyReconciler
	reader client.Reader
	cache  interface {
		WaitForCacheSync(context.Context) bool
	}
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
		if p, err := policy.Compile(&list.Items[i]); err == nil {
			l.r.Store.Put(p)
		}
	}
	l.r.Store.MarkLoaded()
	l.r.Log.Info("policies loaded from the cluster", "count", len(list.Items))
	return nil
}

// NeedLeaderElection: every replica serves admissions, so every replica loads policies.
func (l *initialLoad) NeedLeaderElection() bool { return false }
