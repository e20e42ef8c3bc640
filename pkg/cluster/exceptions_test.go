package cluster

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/rules"
)

const sealgateNS = "sealgate-system"

var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func exceptionObject(ns string, spec v1alpha1.PolicyExceptionSpec) *v1alpha1.PolicyException {
	if spec.Reason == "" {
		spec.Reason = "the CNI agent"
	}
	return &v1alpha1.PolicyException{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cni", Generation: 1, UID: "uid-cni"}, Spec: spec}
}

func policyObject(name string, x *v1alpha1.ExceptionRules) *v1alpha1.ClusterAdmissionPolicy {
	return &v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1},
		Spec: v1alpha1.PolicySpec{Containers: &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden}, Exceptions: x}}
}

func policyNames(ps ...string) []v1alpha1.ExceptionPolicy {
	out := make([]v1alpha1.ExceptionPolicy, len(ps))
	for i, p := range ps {
		out[i] = v1alpha1.ExceptionPolicy{Name: p}
	}
	return out
}

// fakeExceptionAPI is a fake API server holding objs, counting status writes.
func fakeExceptionAPI(t *testing.T, objs ...client.Object) (client.Client, *atomic.Int32) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	writes := &atomic.Int32{}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.PolicyException{}, &v1alpha1.ClusterAdmissionPolicy{}).
		WithInterceptorFuncs(interceptor.Funcs{
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
				writes.Add(1)
				return c.SubResource(sub).Patch(ctx, obj, p, opts...)
			},
		}).Build()
	return c, writes
}

type exceptionReplica struct {
	*ExceptionReconciler
	leader *testLeader
	clock  *time.Time
}

func newExceptionReplica(c client.Client, leading bool) exceptionReplica {
	l := &testLeader{gained: make(chan struct{}, 1)}
	l.leading.Store(leading)
	clock := t0
	r := exceptionReplica{leader: l, clock: &clock}
	store := NewExceptionStore()
	store.Now = func() time.Time { return *r.clock }
	r.ExceptionReconciler = &ExceptionReconciler{Client: c, Store: store, Rules: rules.Default(), Namespace: sealgateNS,
		Leader: l, Log: logr.Discard(), Now: store.Now}
	return r
}

func (r exceptionReplica) reconcile(t *testing.T, ns string) reconcile.Result {
	t.Helper()
	res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "cni"}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func readyOf(t *testing.T, c client.Client, ns string) *metav1.Condition {
	t.Helper()
	var obj v1alpha1.PolicyException
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "cni"}, &obj); err != nil {
		t.Fatal(err)
	}
	return meta.FindStatusCondition(obj.Status.Conditions, ConditionReady)
}

func TestExceptionStatus(t *testing.T) {
	expires := &metav1.Time{Time: t0.Add(time.Hour)}
	for _, tc := range []struct {
		name     string
		ns       string
		spec     v1alpha1.PolicyExceptionSpec
		inForce  bool
		status   metav1.ConditionStatus
		reason   string
		messages []string
	}{
		{"in force", sealgateNS, v1alpha1.PolicyExceptionSpec{Policies: policyNames("baseline"), Expires: expires}, true,
			metav1.ConditionTrue, ReasonInForce, []string{`in force; it applies to "baseline"; it expires at 2030-06-01T13:00:00Z (spec.expires)`}},
		{"a policy not in the cluster", sealgateNS, v1alpha1.PolicyExceptionSpec{Policies: policyNames("baseline", "later")}, true,
			metav1.ConditionTrue, ReasonInForce, []string{`no policy "later" is in the cluster: it applies to each once it is`}},
		{"invalid", sealgateNS, v1alpha1.PolicyExceptionSpec{Reason: strings.Repeat("x", 2000), Policies: []v1alpha1.ExceptionPolicy{
			{Name: "baseline", Rules: []string{"containers.privilegd"}}}, Match: v1alpha1.ExceptionMatch{Kinds: []string{"Service"}}}, false,
			metav1.ConditionFalse, ReasonInvalid, []string{"spec.reason: Too long", `spec.match.kinds[0]: Unsupported value: "Service"`,
				"the exception is not in force"}},
		{"unknown rule", sealgateNS, v1alpha1.PolicyExceptionSpec{Policies: []v1alpha1.ExceptionPolicy{
			{Name: "baseline", Rules: []string{"containers.privilegd"}}}}, false,
			metav1.ConditionFalse, ReasonInvalid, []string{`spec.policies[0].rules[0]: Invalid value: "containers.privilegd"`}},
		{"expired", sealgateNS, v1alpha1.PolicyExceptionSpec{Policies: policyNames("baseline"), Expires: &metav1.Time{Time: t0}}, true,
			metav1.ConditionFalse, ReasonExpired, []string{"expired at 2030-06-01T12:00:00Z (spec.expires): it waives nothing"}},
		{"outside the allowed namespaces", "team-a", v1alpha1.PolicyExceptionSpec{Policies: policyNames("baseline", "platform", "strict")}, true,
			metav1.ConditionFalse, ReasonNotAllowed, []string{
				`ignored by 2 of the 3 policies it names: policy "baseline" accepts exceptions only from sealgate's namespace "sealgate-system" (spec.exceptions.allowedNamespaces is unset); move the exception there, or list "team-a" in the policy's spec.exceptions.allowedNamespaces; policy "strict" forbids exceptions (spec.exceptions.forbid); it applies to "platform"`}},
		{"forbid", sealgateNS, v1alpha1.PolicyExceptionSpec{Policies: policyNames("strict")}, true,
			metav1.ConditionFalse, ReasonNotAllowed, []string{`ignored by 1 of the 1 policies it names: policy "strict" forbids exceptions (spec.exceptions.forbid)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, writes := fakeExceptionAPI(t, exceptionObject(tc.ns, tc.spec), policyObject("baseline", nil),
				policyObject("platform", &v1alpha1.ExceptionRules{AllowedNamespaces: []string{"team-a"}}),
				policyObject("strict", &v1alpha1.ExceptionRules{Forbid: true}))
			follower, leader := newExceptionReplica(c, false), newExceptionReplica(c, true)
			follower.reconcile(t, tc.ns)
			if writes.Load() != 0 {
				t.Fatalf("a replica that is not elected wrote status")
			}
			leader.reconcile(t, tc.ns)
			for _, r := range []exceptionReplica{follower, leader} {
				if got := len(r.Store.Exceptions().All()) == 1; got != tc.inForce {
					t.Errorf("in force = %v, want %v", got, tc.inForce)
				}
			}
			cond := readyOf(t, c, tc.ns)
			if cond == nil || cond.Status != tc.status || cond.Reason != tc.reason || cond.ObservedGeneration != 1 {
				t.Fatalf("Ready = %+v, want %s/%s", cond, tc.status, tc.reason)
			}
			for _, m := range tc.messages {
				if !strings.Contains(cond.Message, m) {
					t.Errorf("Ready message lacks %q:\n%s", m, cond.Message)
				}
			}
			leader.reconcile(t, tc.ns)
			if writes.Load() != 1 {
				t.Errorf("%d status writes, want 1: rewritten without a change", writes.Load())
			}
		})
	}
}

// An exception is reconciled again at its expiry: then the store counts a change (the audit rescans)
// and the status says Expired.
func TestExceptionExpiry(t *testing.T) {
	c, _ := fakeExceptionAPI(t, exceptionObject(sealgateNS, v1alpha1.PolicyExceptionSpec{Policies: policyNames("baseline"),
		Expires: &metav1.Time{Time: t0.Add(90 * time.Second)}}), policyObject("baseline", nil))
	r := newExceptionReplica(c, true)
	res := r.reconcile(t, sealgateNS)
	if want := 90*time.Second + expiryMargin; res.RequeueAfter != want {
		t.Errorf("RequeueAfter = %s, want %s", res.RequeueAfter, want)
	}
	v, changed := r.Store.Changes()
	r.reconcile(t, sealgateNS) // nothing changed
	if v2, _ := r.Store.Changes(); v2 != v {
		t.Errorf("a reconcile with nothing changed counted as a change")
	}
	*r.clock = t0.Add(90*time.Second + expiryMargin)
	res = r.reconcile(t, sealgateNS)
	select {
	case <-changed:
	default:
		t.Errorf("the expiry was not a change of the store")
	}
	if res.RequeueAfter != 0 {
		t.Errorf("requeued after expiry: %s", res.RequeueAfter)
	}
	if cond := readyOf(t, c, sealgateNS); cond.Reason != ReasonExpired || cond.Status != metav1.ConditionFalse {
		t.Errorf("Ready after expiry = %+v", cond)
	}
}

// A change of a policy reconciles the exceptions that name it, and only those.
func TestExceptionsNamingPolicy(t *testing.T) {
	other := exceptionObject(sealgateNS, v1alpha1.PolicyExceptionSpec{Policies: policyNames("other")})
	other.Name = "other"
	c, _ := fakeExceptionAPI(t, exceptionObject("team-a", v1alpha1.PolicyExceptionSpec{Policies: policyNames("other", "baseline")}), other)
	r := newExceptionReplica(c, true)
	got := r.naming(context.Background(), policyObject("baseline", nil))
	if len(got) != 1 || got[0].Namespace != "team-a" || got[0].Name != "cni" {
		t.Errorf("naming(baseline) = %v", got)
	}
}

// The start-up load puts every valid exception in force before the store reports ready.
func TestExceptionLoad(t *testing.T) {
	bad := exceptionObject(sealgateNS, v1alpha1.PolicyExceptionSpec{Policies: policyNames("Bad Name")})
	bad.Name = "bad"
	c, _ := fakeExceptionAPI(t, exceptionObject(sealgateNS, v1alpha1.PolicyExceptionSpec{Policies: policyNames("baseline")}), bad)
	r := newExceptionReplica(c, false)
	if r.Store.Ready() == nil {
		t.Fatal("ready before the load")
	}
	if err := (&exceptionLoad{r: r.ExceptionReconciler, reader: c, cache: syncedCache{}}).Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Store.Ready(); err != nil {
		t.Fatal(err)
	}
	if all := r.Store.Exceptions().All(); len(all) != 1 || all[0].Name != "cni" {
		t.Errorf("in force after the load: %v", all)
	}
}
