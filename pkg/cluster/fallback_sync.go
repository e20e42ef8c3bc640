package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/vap"
)

// ownerRef makes the policy the controller of what is generated from it, so that the garbage
// collector deletes the objects with the policy if sealgate does not. No blockOwnerDeletion: it would
// need the policy's finalizers subresource, and sealgate deletes the objects itself.
func ownerRef(obj *v1alpha1.ClusterAdmissionPolicy) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind,
		Name: obj.Name, UID: obj.UID, Controller: ptr.To(true)}}
}

// apply creates or updates the generated policy, then its binding, so that a binding never names a
// policy that is not there yet.
func (r *FallbackReconciler) apply(ctx context.Context, res *vap.Result) error {
	err := put(ctx, r.Client, res.Policy, "ValidatingAdmissionPolicy",
		func(o *admissionv1.ValidatingAdmissionPolicy) any { return o.Spec },
		func(dst, src *admissionv1.ValidatingAdmissionPolicy) { dst.Spec = src.Spec })
	if err != nil {
		return err
	}
	return put(ctx, r.Client, res.Binding, "ValidatingAdmissionPolicyBinding",
		func(o *admissionv1.ValidatingAdmissionPolicyBinding) any { return o.Spec },
		func(dst, src *admissionv1.ValidatingAdmissionPolicyBinding) { dst.Spec = src.Spec })
}

// put creates want, or updates the object of its name when its spec, labels or owner differ from
// want's. An object of that name that sealgate did not generate for this policy is left alone.
func put[T any, PT interface {
	*T
	client.Object
}](ctx context.Context, c client.Client, want PT, kind string, spec func(PT) any, setSpec func(dst, src PT)) error {
	cur := PT(new(T))
	err := c.Get(ctx, client.ObjectKeyFromObject(want), cur)
	if apierrors.IsNotFound(err) {
		if err := c.Create(ctx, want); err != nil {
			return fmt.Errorf("creating %s %q: %w", kind, want.GetName(), err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s %q: %w", kind, want.GetName(), err)
	}
	policyName := want.GetLabels()[LabelPolicy]
	if cur.GetLabels()[LabelPolicy] != policyName {
		return fmt.Errorf("a %s named %q exists that sealgate did not generate for policy %q (its label %s is not %q); "+
			"delete or rename it, or set the policy's spec.fallback to None", kind, want.GetName(), policyName, LabelPolicy, policyName)
	}
	labels := cur.GetLabels()
	if holdsJSON(toJSON(spec(cur)), toJSON(spec(want))) && hasLabels(labels, want.GetLabels()) &&
		reflect.DeepEqual(cur.GetOwnerReferences(), want.GetOwnerReferences()) {
		return nil
	}
	setSpec(cur, want)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, want.GetLabels())
	cur.SetLabels(labels)
	cur.SetOwnerReferences(want.GetOwnerReferences())
	if err := c.Update(ctx, cur); err != nil {
		return fmt.Errorf("updating %s %q: %w", kind, want.GetName(), err)
	}
	return nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// toJSON is v as generic JSON values.
func toJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return out
}

// holdsJSON reports whether have holds every value of want: the API server adds defaults (matchPolicy,
// scope) that the compiler leaves out, and those must not count as a difference, or every reconcile
// would write. A field changed, or a list entry added or removed, does count.
func holdsJSON(have, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return have == nil && len(w) == 0
		}
		for k, v := range w {
			if !holdsJSON(h[k], v) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return have == nil && len(w) == 0
		}
		for i := range w {
			if !holdsJSON(h[i], w[i]) {
				return false
			}
		}
		return true
	}
	return have == want
}

// deleteObjects deletes the policy's generated ValidatingAdmissionPolicy and binding, binding first,
// when they are there and labelled as generated for it.
func (r *FallbackReconciler) deleteObjects(ctx context.Context, policyName string) error {
	for _, o := range []client.Object{&admissionv1.ValidatingAdmissionPolicyBinding{}, &admissionv1.ValidatingAdmissionPolicy{}} {
		err := r.Client.Get(ctx, client.ObjectKey{Name: vap.Name(policyName)}, o)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", vap.Name(policyName), err)
		}
		if o.GetLabels()[LabelPolicy] != policyName {
			continue // not sealgate's
		}
		uid := o.GetUID()
		if err := r.Client.Delete(ctx, o, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %T %s of policy %q: %w", o, vap.Name(policyName), policyName, err)
		}
		r.Log.Info("deleted a generated object", "policy", policyName, "name", vap.Name(policyName), "type", fmt.Sprintf("%T", o))
	}
	return nil
}

// fallbackSweep enqueues, each time this replica becomes the leader, every policy and every policy a
// generated object names (so that objects left behind by a deleted policy, or one whose fallback
// was turned off while no replica led, are deleted); and, while it leads, every policy when the
// exceptions in force change. It polls Leading, as the exception sweep does.
type fallbackSweep struct {
	r      *FallbackReconciler
	reader client.Reader
	cache  cacheSyncer
	events chan<- event.GenericEvent
}

func (s *fallbackSweep) Start(ctx context.Context) error {
	if s.r.Leader == nil || !s.cache.WaitForCacheSync(ctx) {
		return nil
	}
	var changed <-chan struct{}
	var version uint64
	if s.r.Exceptions != nil {
		version, changed = s.r.Exceptions.Changes()
	}
	tick := time.NewTicker(leaderPoll)
	defer tick.Stop()
	led := false
	for {
		leading := s.r.Leader.Leading()
		if leading && !led {
			// A failed list is retried at the next tick, never returned: an error would stop the
			// manager, and with it a replica that serves admissions.
			if err := s.sweep(ctx, true); err != nil {
				s.r.Log.Error(err, "listing policies and generated objects after the election; retrying")
				leading = false
			}
		}
		led = leading
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-changed:
			var v uint64
			v, changed = s.r.Exceptions.Changes()
			if v != version && led {
				if err := s.sweep(ctx, false); err != nil {
					s.r.Log.Error(err, "listing policies after an exception change; retrying")
					continue // version stays: the next change, or tick, retries
				}
			}
			version = v
		}
	}
}

// sweep enqueues every policy, and with stale also every policy a generated object names.
func (s *fallbackSweep) sweep(ctx context.Context, stale bool) error {
	var list v1alpha1.ClusterAdmissionPolicyList
	if err := s.reader.List(ctx, &list); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	names := map[string]bool{}
	for i := range list.Items {
		names[list.Items[i].Name] = true
	}
	if stale {
		sel := client.MatchingLabels{"app.kubernetes.io/managed-by": "sealgate"}
		var vaps admissionv1.ValidatingAdmissionPolicyList
		var bindings admissionv1.ValidatingAdmissionPolicyBindingList
		if err := s.reader.List(ctx, &vaps, sel); err != nil {
			return err
		}
		if err := s.reader.List(ctx, &bindings, sel); err != nil {
			return err
		}
		for i := range vaps.Items {
			if req, ok := policyFor(&vaps.Items[i]); ok {
				names[req.Name] = true
			}
		}
		for i := range bindings.Items {
			if req, ok := policyFor(&bindings.Items[i]); ok {
				names[req.Name] = true
			}
		}
	}
	items := make([]v1alpha1.ClusterAdmissionPolicy, 0, len(names))
	for name := range names {
		items = append(items, v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}})
	}
	enqueueAll(ctx, items, s.events)
	return nil
}

// NeedLeaderElection: it follows the elector itself, so that it runs on every replica.
func (s *fallbackSweep) NeedLeaderElection() bool { return false }
