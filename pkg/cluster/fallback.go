package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
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
	"github.com/sealgate/sealgate/pkg/vap"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// LabelPolicy names, on a generated ValidatingAdmissionPolicy and binding, the policy they were
// generated from; with the managed-by label it is how the sweep finds objects left behind.
const LabelPolicy = "sealgate.dev/policy"

// maxFallbackRules bounds status.fallback.rules (the CRD's MaxItems).
const maxFallbackRules = 256

// FallbackReconciler keeps, for each ClusterAdmissionPolicy with spec.fallback
// ValidatingAdmissionPolicy, a generated ValidatingAdmissionPolicy and binding that compile the
// generation in force (Decide, what the webhook enforces), less the rules PolicyExceptions waive,
// and writes status.fallback. Only the elected replica acts: every replica runs it, and the others
// drop what they are given; the sweep on election catches up.
type FallbackReconciler struct {
	Client client.Client
	Rules  *rules.Registry
	// Exceptions are the PolicyExceptions in force; nil is none.
	Exceptions *ExceptionStore
	// Namespace is sealgate's own: where policies accept exceptions from by default.
	Namespace string
	// Reader reads WebhookConfig, the ValidatingWebhookConfiguration of sealgate's workload
	// webhook, whose selectors every binding also requires (vap.Options). Without it, or without
	// that configuration, the selectors are those sealgate installs by default in Namespace.
	Reader        client.Reader
	WebhookConfig string
	Leader        Leadership
	Log           logr.Logger
}

// SetupFallback registers the fallback reconciler on mgr. When the API server has no
// ValidatingAdmissionPolicy API (before Kubernetes 1.30), it logs that spec.fallback is ignored.
func SetupFallback(mgr ctrl.Manager, reg *rules.Registry, exceptions *ExceptionStore, namespace, webhookConfig string, leader Leadership, log logr.Logger) error {
	gk := admissionv1.SchemeGroupVersion.WithKind("ValidatingAdmissionPolicy").GroupKind()
	if _, err := mgr.GetRESTMapper().RESTMapping(gk, admissionv1.SchemeGroupVersion.Version); err != nil {
		if !meta.IsNoMatchError(err) {
			return fmt.Errorf("looking up the ValidatingAdmissionPolicy API: %w", err)
		}
		log.Error(err, "the API server has no admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy (Kubernetes 1.30 or later): "+
			"spec.fallback is ignored")
		return nil
	}
	r := &FallbackReconciler{Client: mgr.GetClient(), Rules: reg, Exceptions: exceptions, Namespace: namespace,
		Reader: mgr.GetAPIReader(), WebhookConfig: webhookConfig, Leader: leader, Log: log}
	return r.SetupWithManager(mgr)
}

// SetupWithManager registers the reconciler, the watch of exception changes and the sweep on
// election.
func (r *FallbackReconciler) SetupWithManager(mgr ctrl.Manager) error {
	events := make(chan event.GenericEvent)
	if err := mgr.Add(&fallbackSweep{r: r, reader: mgr.GetClient(), cache: mgr.GetCache(), events: events}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ClusterAdmissionPolicy{}, builder.WithPredicates(fallbackOn)).
		// A generated object changed or deleted by hand is put back.
		Owns(&admissionv1.ValidatingAdmissionPolicy{}).
		Owns(&admissionv1.ValidatingAdmissionPolicyBinding{}).
		WatchesRawSource(source.Channel(events, &handler.EnqueueRequestForObject{})).
		Named("fallback").
		WithOptions(controllerOptions()).
		Complete(r)
}

// fallbackOn passes what the reconciler must decide again on: what reconcileOn passes, and a change
// of status.fallback, so that a status edited by hand is put back in step.
var fallbackOn = predicate.Or[client.Object](reconcileOn, predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	oldObj, ok1 := e.ObjectOld.(*v1alpha1.ClusterAdmissionPolicy)
	newObj, ok2 := e.ObjectNew.(*v1alpha1.ClusterAdmissionPolicy)
	return ok1 && ok2 && !apiequality.Semantic.DeepEqual(oldObj.Status.Fallback, newObj.Status.Fallback)
}})

// Reconcile implements reconcile.Reconciler.
func (r *FallbackReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if r.Leader == nil || !r.Leader.Leading() {
		return reconcile.Result{}, nil
	}
	var obj v1alpha1.ClusterAdmissionPolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &obj); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		// Deleted explicitly: the garbage collector may lag, or not run at all.
		return reconcile.Result{}, r.deleteObjects(ctx, req.Name)
	}
	want, objs, err := r.desired(ctx, &obj)
	if err != nil {
		return reconcile.Result{}, err
	}
	if objs == nil {
		err = r.deleteObjects(ctx, obj.Name)
	} else {
		err = r.apply(ctx, objs)
	}
	if err != nil {
		if want == nil {
			return reconcile.Result{}, err
		}
		// The error goes to status, and the reconcile is retried with backoff.
		r.Log.Error(err, "generated ValidatingAdmissionPolicy not in sync", "policy", obj.Name)
		want.State, want.Message = v1alpha1.FallbackFailed, capMessage(err.Error(), "")
	}
	if serr := r.writeStatus(ctx, &obj, want); serr != nil {
		return reconcile.Result{}, serr
	}
	if want != nil && err == nil {
		// The webhook's selectors, which the binding copies, change without an event here (a helm
		// upgrade): look again now and then. Nothing is written unless something differs.
		return reconcile.Result{RequeueAfter: fallbackResync}, nil
	}
	return reconcile.Result{}, err
}

// fallbackResync is how often a policy with a fallback is compiled again without an event.
const fallbackResync = 5 * time.Minute

// webhookScope returns the selectors of sealgate's workload webhook, read live from the cluster
// (a rare read: once per reconcile), or those of the default install when it is not there.
func (r *FallbackReconciler) webhookScope(ctx context.Context) (vap.Options, error) {
	if r.Reader != nil && r.WebhookConfig != "" {
		vwc := &admissionv1.ValidatingWebhookConfiguration{}
		err := r.Reader.Get(ctx, client.ObjectKey{Name: r.WebhookConfig}, vwc)
		switch {
		case err == nil:
			if ns, obj, ok := webhookconfig.WorkloadSelectors(vwc); ok {
				return vap.Options{WebhookNamespaceSelector: ns, WebhookObjectSelector: obj}, nil
			}
		case !apierrors.IsNotFound(err):
			return vap.Options{}, fmt.Errorf("reading ValidatingWebhookConfiguration %s for its selectors, which the binding must require too: %w", r.WebhookConfig, err)
		}
	}
	vwc, err := webhookconfig.Validating(webhookconfig.Options{Namespace: r.Namespace, URL: "https://sealgate.invalid"})
	if err != nil {
		return vap.Options{}, err
	}
	ns, obj, _ := webhookconfig.WorkloadSelectors(vwc)
	return vap.Options{WebhookNamespaceSelector: ns, WebhookObjectSelector: obj}, nil
}

// desired returns the status.fallback and the objects that obj asks for: nil objects when there
// must be none, and a nil status when spec.fallback is off.
func (r *FallbackReconciler) desired(ctx context.Context, obj *v1alpha1.ClusterAdmissionPolicy) (*v1alpha1.FallbackStatus, *vap.Result, error) {
	d := Decide(obj)
	spec := obj.Spec
	if d.Policy != nil {
		// The generation in force decides, as it does everything the webhook does.
		spec = d.Policy.Source.Spec
	}
	if spec.Fallback != v1alpha1.FallbackVAP {
		return nil, nil, nil
	}
	st := &v1alpha1.FallbackStatus{Generation: obj.Generation, Name: vap.Name(obj.Name)}
	if d.Policy == nil {
		st.State = v1alpha1.FallbackFailed
		st.Message = "the policy is not in force (see its Ready condition), so neither is its ValidatingAdmissionPolicy; fix the policy's spec"
		return st, nil, nil
	}
	st.Generation = d.Policy.Generation
	opts, err := r.webhookScope(ctx)
	if err != nil {
		st.State, st.Message = v1alpha1.FallbackFailed, capMessage(err.Error(), "")
		return st, nil, nil
	}
	opts.Waived = r.waived(d.Policy)
	res, err := vap.CompileWithOptions(r.Rules, d.Policy, opts)
	if err != nil {
		st.State, st.Message = v1alpha1.FallbackFailed, capMessage(err.Error(), "")
		return st, nil, nil
	}
	st.Rules = fallbackRules(res.Rules)
	if res.Policy == nil {
		st.State = v1alpha1.FallbackEmpty
		return st, nil, nil
	}
	st.State = v1alpha1.FallbackSynced
	owner := ownerRef(obj)
	for _, o := range []client.Object{res.Policy, res.Binding} {
		labels := o.GetLabels()
		labels[LabelPolicy] = obj.Name
		o.SetLabels(labels)
		o.SetOwnerReferences(owner)
	}
	return st, res, nil
}

// waived maps each rule ID or family that a PolicyException in force waives for p to the first such
// exception (namespace/name order): one that names p, has not expired and lives where p accepts
// exceptions from. Where it applies does not count: a ValidatingAdmissionPolicy cannot tell.
func (r *FallbackReconciler) waived(p *policy.Policy) map[string]string {
	if r.Exceptions == nil {
		return nil
	}
	out := map[string]string{}
	now := r.Exceptions.now()
	for _, x := range r.Exceptions.Exceptions().For(p.Name) {
		if x.Expired(now) {
			continue
		}
		if ok, _ := p.AcceptsExceptionsFrom(x.Namespace, r.Namespace); !ok {
			continue
		}
		for _, ep := range x.Policies {
			if ep.Name != p.Name {
				continue
			}
			ids := ep.Rules
			if len(ids) == 0 {
				for _, rule := range r.Rules.Rules() {
					ids = append(ids, rule.ID)
				}
			}
			for _, id := range ids {
				if _, ok := out[id]; !ok {
					out[id] = x.ID()
				}
			}
		}
	}
	return out
}

// fallbackRules is the compiler's list within the CRD's bounds.
func fallbackRules(in []vap.RuleStatus) []v1alpha1.FallbackRule {
	out := make([]v1alpha1.FallbackRule, 0, min(len(in), maxFallbackRules))
	for _, st := range in[:min(len(in), maxFallbackRules)] {
		out = append(out, v1alpha1.FallbackRule{Rule: cutUTF8(st.Rule, 128), State: string(st.State), Reason: cutUTF8(st.Reason, 512)})
	}
	return out
}

// writeStatus writes status.fallback when it differs from what is there.
func (r *FallbackReconciler) writeStatus(ctx context.Context, obj *v1alpha1.ClusterAdmissionPolicy, want *v1alpha1.FallbackStatus) error {
	if apiequality.Semantic.DeepEqual(obj.Status.Fallback, want) {
		return nil
	}
	patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	obj.Status.Fallback = want
	if err := r.Client.Status().Patch(ctx, obj, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("writing status.fallback of policy %q: %w", obj.Name, err)
	}
	return nil
}

// policyFor maps a generated object to the policy its label names, for the sweep.
func policyFor(o client.Object) (reconcile.Request, bool) {
	name, ok := o.GetLabels()[LabelPolicy]
	if !ok || name == "" {
		return reconcile.Request{}, false
	}
	return reconcile.Request{NamespacedName: types.NamespacedName{Name: name}}, true
}
