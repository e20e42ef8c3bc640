package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/vap"
)

// fakeFallbackAPI is a fake API server holding objs that counts every write.
func fakeFallbackAPI(t *testing.T, objs ...client.Object) (client.Client, *atomic.Int32) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := admissionv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	writes := &atomic.Int32{}
	count := func() { writes.Add(1) }
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.ClusterAdmissionPolicy{}).
		WithInterceptorFuncs(interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
				count()
				return c.Create(ctx, o, opts...)
			},
			Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
				count()
				return c.Update(ctx, o, opts...)
			},
			Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
				count()
				return c.Delete(ctx, o, opts...)
			},
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
				count()
				return c.SubResource(sub).Patch(ctx, o, p, opts...)
			},
		}).Build()
	return c, writes
}

func fallbackPolicy(spec v1alpha1.PolicySpec) *v1alpha1.ClusterAdmissionPolicy {
	spec.Fallback = v1alpha1.FallbackVAP
	return &v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: testPolicy, Generation: 1, UID: "uid-1"}, Spec: spec}
}

func newFallback(c client.Client, leading bool) *FallbackReconciler {
	l := &testLeader{gained: make(chan struct{}, 1)}
	l.leading.Store(leading)
	return &FallbackReconciler{Client: c, Rules: rules.Default(), Exceptions: NewExceptionStore(), Namespace: "sealgate-system",
		Leader: l, Log: logr.Discard()}
}

func reconcileFallback(t *testing.T, r *FallbackReconciler) {
	t.Helper()
	if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: testPolicy}}); err != nil {
		t.Fatal(err)
	}
}

func getVAP(t *testing.T, c client.Client) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding) {
	t.Helper()
	ctx, key := context.Background(), client.ObjectKey{Name: vap.Name(testPolicy)}
	p, b := &admissionv1.ValidatingAdmissionPolicy{}, &admissionv1.ValidatingAdmissionPolicyBinding{}
	if err := c.Get(ctx, key, p); apierrors.IsNotFound(err) {
		p = nil
	} else if err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, key, b); apierrors.IsNotFound(err) {
		b = nil
	} else if err != nil {
		t.Fatal(err)
	}
	return p, b
}

func ruleStates(st *v1alpha1.FallbackStatus) string {
	var out []string
	for _, r := range st.Rules {
		out = append(out, r.Rule+"="+r.State)
	}
	return strings.Join(out, ",")
}

// The objects follow the policy, are written only when they differ, carry the labels and the
// controller reference, and status.fallback says what is in the cluster.
func TestFallbackFollowsPolicy(t *testing.T) {
	c, writes := fakeFallbackAPI(t, fallbackPolicy(validSpec(false)))
	r := newFallback(c, true)

	reconcileFallback(t, r)
	p, b := getVAP(t, c)
	if p == nil || b == nil {
		t.Fatalf("no generated objects: %v %v", p, b)
	}
	for _, o := range []client.Object{p, b} {
		refs := o.GetOwnerReferences()
		if o.GetLabels()[LabelPolicy] != testPolicy || o.GetLabels()["app.kubernetes.io/managed-by"] != "sealgate" ||
			len(refs) != 1 || refs[0].UID != "uid-1" || refs[0].Controller == nil || !*refs[0].Controller {
			t.Errorf("%T: labels %v, owners %+v", o, o.GetLabels(), refs)
		}
	}
	st := getPolicy(t, c).Status.Fallback
	if st == nil || st.State != v1alpha1.FallbackSynced || st.Generation != 1 || st.Name != "sealgate-p" || ruleStates(st) != "containers.privileged=Exact" {
		t.Fatalf("status.fallback %+v", st)
	}

	// Nothing changed, and a default the API server adds is no difference: no write.
	matchPolicy := admissionv1.Equivalent
	p.Spec.MatchConstraints.MatchPolicy = &matchPolicy
	if err := c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	before := writes.Load()
	reconcileFallback(t, r)
	if n := writes.Load() - before; n != 0 {
		t.Errorf("%d writes when nothing changed", n)
	}

	// A hand edit of a compiled field is put back.
	p, _ = getVAP(t, c)
	p.Spec.Validations = p.Spec.Validations[:1]
	if err := c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	reconcileFallback(t, r)
	if p, _ = getVAP(t, c); len(p.Spec.Validations) != 3 {
		t.Errorf("a hand edit stayed: %d validations", len(p.Spec.Validations))
	}

	// A new generation updates the objects and the status.
	spec := validSpec(true)
	spec.Fallback = v1alpha1.FallbackVAP
	updateSpec(t, c, spec)
	reconcileFallback(t, r)
	if p, _ = getVAP(t, c); len(p.Spec.Validations) != 6 {
		t.Errorf("generation 2: %d validations, want 6", len(p.Spec.Validations))
	}
	if st := getPolicy(t, c).Status.Fallback; st.Generation != 2 || ruleStates(st) != "containers.privileged=Exact,containers.readOnlyRootFilesystem=Exact" {
		t.Errorf("status.fallback after generation 2: %+v", st)
	}

	// Turned off: deleted, status cleared.
	updateSpec(t, c, validSpec(true))
	reconcileFallback(t, r)
	if p, b := getVAP(t, c); p != nil || b != nil {
		t.Errorf("fallback off, objects left: %v %v", p != nil, b != nil)
	}
	if st := getPolicy(t, c).Status.Fallback; st != nil {
		t.Errorf("fallback off, status.fallback %+v", st)
	}
}

// Deleting the policy deletes the objects, without a garbage collector; a replica that does not lead
// writes nothing; an object of the same name that sealgate did not generate is left alone and the
// status says so.
func TestFallbackDeleteAndOwnership(t *testing.T) {
	obj := fallbackPolicy(validSpec(false))
	c, writes := fakeFallbackAPI(t, obj)
	newFallback(c, false).Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: testPolicy}})
	if writes.Load() != 0 {
		t.Errorf("a replica that does not lead wrote %d times", writes.Load())
	}
	r := newFallback(c, true)
	reconcileFallback(t, r)
	if err := c.Delete(context.Background(), getPolicy(t, c)); err != nil {
		t.Fatal(err)
	}
	reconcileFallback(t, r)
	if p, b := getVAP(t, c); p != nil || b != nil {
		t.Errorf("policy deleted, objects left: %v %v", p != nil, b != nil)
	}

	mine := &admissionv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: vap.Name(testPolicy)}}
	c, _ = fakeFallbackAPI(t, fallbackPolicy(validSpec(false)), mine)
	r = newFallback(c, true)
	if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: testPolicy}}); err == nil {
		t.Error("no error with someone else's object in the way")
	}
	st := getPolicy(t, c).Status.Fallback
	if st == nil || st.State != v1alpha1.FallbackFailed || !strings.Contains(st.Message, "that sealgate did not generate") {
		t.Errorf("status.fallback %+v, want Failed naming the object in the way", st)
	}
	if p, _ := getVAP(t, c); p == nil || len(p.Spec.Validations) != 0 {
		t.Error("someone else's object was changed")
	}
	if err := c.Delete(context.Background(), getPolicy(t, c)); err != nil {
		t.Fatal(err)
	}
	reconcileFallback(t, r)
	if p, _ := getVAP(t, c); p == nil {
		t.Error("someone else's object was deleted")
	}
}

// A rule an exception in force waives is left out; one the policy does not accept, or an expired one,
// waives nothing; a policy whose every compiled rule is waived is Empty, with no objects.
func TestFallbackExceptions(t *testing.T) {
	c, _ := fakeFallbackAPI(t, fallbackPolicy(validSpec(true)))
	r := newFallback(c, true)
	put := func(ns, name string, rules ...string) {
		x, err := policy.CompileException(&v1alpha1.PolicyException{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1},
			Spec: v1alpha1.PolicyExceptionSpec{Reason: "r", Policies: []v1alpha1.ExceptionPolicy{{Name: testPolicy, Rules: rules}}}})
		if err != nil {
			t.Fatal(err)
		}
		r.Exceptions.Put(x)
	}
	put("elsewhere", "ignored", "containers")
	reconcileFallback(t, r)
	if st := getPolicy(t, c).Status.Fallback; ruleStates(st) != "containers.privileged=Exact,containers.readOnlyRootFilesystem=Exact" {
		t.Errorf("an exception the policy does not accept waived: %s", ruleStates(st))
	}
	put("sealgate-system", "agent", "containers.privileged")
	reconcileFallback(t, r)
	st := getPolicy(t, c).Status.Fallback
	if ruleStates(st) != "containers.privileged=NotCompiled,containers.readOnlyRootFilesystem=Exact" ||
		!strings.Contains(st.Rules[0].Reason, "sealgate-system/agent") {
		t.Errorf("waived: %+v", st.Rules)
	}
	if p, _ := getVAP(t, c); len(p.Spec.Validations) != 3 || strings.Contains(p.Spec.Validations[0].Expression, "privileged") {
		t.Errorf("the waived rule is in the VAP: %d validations", len(p.Spec.Validations))
	}
	put("sealgate-system", "all")
	reconcileFallback(t, r)
	if st := getPolicy(t, c).Status.Fallback; st.State != v1alpha1.FallbackEmpty || ruleStates(st) != "containers.privileged=NotCompiled,containers.readOnlyRootFilesystem=NotCompiled" {
		t.Errorf("every rule waived: %+v", st)
	}
	if p, b := getVAP(t, c); p != nil || b != nil {
		t.Errorf("Empty, objects left: %v %v", p != nil, b != nil)
	}
}

func TestHoldsJSON(t *testing.T) {
	for _, tc := range []struct {
		have, want string
		ok         bool
	}{
		{`{"a":1,"b":{"c":"x","d":[1,2]}}`, `{"b":{"d":[1,2]}}`, true},
		{`{"a":1}`, `{"a":2}`, false},
		{`{"a":[1,2,3]}`, `{"a":[1,2]}`, false},
		{`{"a":[{"x":1,"y":2}]}`, `{"a":[{"x":1}]}`, true},
		{`{}`, `{"sel":{}}`, true},
		{`{}`, `{"a":"x"}`, false},
	} {
		var have, want any
		if err := json.Unmarshal([]byte(tc.have), &have); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
			t.Fatal(err)
		}
		if got := holdsJSON(have, want); got != tc.ok {
			t.Errorf("holdsJSON(%s, %s) = %t", tc.have, tc.want, got)
		}
	}
}

// The sweep after an election enqueues the policies the generated objects name, so that objects
// whose policy was deleted while no replica led are deleted.
func TestFallbackSweepFindsLeftovers(t *testing.T) {
	left := &admissionv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: vap.Name("gone"),
		Labels: map[string]string{"app.kubernetes.io/managed-by": "sealgate", LabelPolicy: "gone"}}}
	c, _ := fakeFallbackAPI(t, fallbackPolicy(validSpec(false)), left)
	r := newFallback(c, true)
	events := make(chan event.GenericEvent, 8)
	if err := (&fallbackSweep{r: r, reader: c, events: events}).sweep(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	close(events)
	var names []string
	for e := range events {
		names = append(names, e.Object.GetName())
		if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: e.Object.GetName()}}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"gone", testPolicy}) {
		t.Errorf("swept %v, want gone and %s", names, testPolicy)
	}
	if err := c.Get(context.Background(), client.ObjectKey{Name: vap.Name("gone")}, &admissionv1.ValidatingAdmissionPolicy{}); !apierrors.IsNotFound(err) {
		t.Errorf("the leftover of a deleted policy is still there: %v", err)
	}
}
