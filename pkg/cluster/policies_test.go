package cluster

import (
	"context"
	"errors"
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
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

const testPolicy = "p"

// validSpec forbids privileged containers; strict also requires a read-only root filesystem, so the
// two generations are told apart by what is in force.
func validSpec(strict bool) v1alpha1.PolicySpec {
	c := &v1alpha1.ContainerRules{Privileged: v1alpha1.Forbidden}
	if strict {
		c.ReadOnlyRootFilesystem = v1alpha1.Required
	}
	return v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce, Containers: c}
}

// invalidSpec does not compile: a namespace name that cannot exist.
func invalidSpec() v1alpha1.PolicySpec {
	s := validSpec(true)
	s.Match.ExcludeNamespaces = []string{"Not_A_Namespace"}
	return s
}

func object(gen int64, spec v1alpha1.PolicySpec, rec *v1alpha1.InForceRecord) *v1alpha1.ClusterAdmissionPolicy {
	return &v1alpha1.ClusterAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: testPolicy, Generation: gen},
		Spec:       spec,
		Status:     v1alpha1.PolicyStatus{InForce: rec},
	}
}

func TestDecide(t *testing.T) {
	unloadable := invalidSpec() // recorded by a sealgate that accepted it, rejected by this one
	for _, tc := range []struct {
		name       string
		obj        *v1alpha1.ClusterAdmissionPolicy
		wantGen    int64 // 0: nothing in force
		wantStatus metav1.ConditionStatus
		wantMsg    string
	}{
		{"valid spec", object(3, validSpec(true), &v1alpha1.InForceRecord{Generation: 1, Spec: validSpec(false)}),
			3, metav1.ConditionTrue, "generation 3 is in force in Enforce mode"},
		{"invalid spec and a record", object(3, invalidSpec(), &v1alpha1.InForceRecord{Generation: 2, Spec: validSpec(true)}),
			2, metav1.ConditionFalse, "generation 2 stays in force"},
		{"invalid spec and no record", object(3, invalidSpec(), nil),
			0, metav1.ConditionFalse, "; the policy is not in force"},
		{"invalid spec and a record that no longer compiles", object(3, invalidSpec(), &v1alpha1.InForceRecord{Generation: 2, Spec: unloadable}),
			0, metav1.ConditionFalse, "the policy is not in force: the generation recorded in status.inForce does not compile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.obj)
			gotGen := int64(0)
			if d.Policy != nil {
				gotGen = d.Policy.Generation
			}
			if gotGen != tc.wantGen {
				t.Errorf("generation in force = %d, want %d (0: none)", gotGen, tc.wantGen)
			}
			// Generation 2 is the recorded spec, told apart from the current one by its rules.
			if tc.wantGen == 2 && (d.Policy.Source.Spec.Containers == nil || d.Policy.Source.Spec.Containers.ReadOnlyRootFilesystem != v1alpha1.Required ||
				len(d.Policy.ExcludeNamespaces) != 0) {
				t.Errorf("the recorded spec is not the one in force: %+v", d.Policy)
			}
			cond := readyCondition(tc.obj.Generation, d)
			if cond.Status != tc.wantStatus || !strings.Contains(cond.Message, tc.wantMsg) || cond.ObservedGeneration != 3 {
				t.Errorf("Ready = %s %q (generation %d), want %s containing %q", cond.Status, cond.Message, cond.ObservedGeneration, tc.wantStatus, tc.wantMsg)
			}
			if tc.wantStatus == metav1.ConditionFalse && !strings.Contains(cond.Message, "Not_A_Namespace") {
				t.Errorf("Ready message %q does not say what is wrong", cond.Message)
			}
		})
	}
}

func TestReadyMessageCapped(t *testing.T) {
	d := InForce{Invalid: errString(strings.Repeat("é", 10000))}
	cond := readyCondition(1, d)
	if len(cond.Message) > maxConditionMessage || !strings.HasSuffix(cond.Message, "; the policy is not in force") ||
		!strings.Contains(cond.Message, "more bytes)") {
		t.Errorf("message of %d bytes ends %q", len(cond.Message), cond.Message[max(0, len(cond.Message)-80):])
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestReconcileOn(t *testing.T) {
	base := object(2, validSpec(true), &v1alpha1.InForceRecord{Generation: 2, Spec: validSpec(true)})
	conditionOnly := base.DeepCopy()
	meta.SetStatusCondition(&conditionOnly.Status.Conditions, metav1.Condition{Type: ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonInForce})
	conditionOnly.ResourceVersion = "2"
	specChanged := base.DeepCopy()
	specChanged.Generation = 3
	recordChanged := base.DeepCopy()
	recordChanged.Status.InForce = &v1alpha1.InForceRecord{Generation: 1, Spec: validSpec(false)}
	recordCleared := base.DeepCopy()
	recordCleared.Status.InForce = nil
	fallbackSynced := base.DeepCopy()
	fallbackSynced.Status.Fallback = &v1alpha1.FallbackStatus{State: v1alpha1.FallbackSynced, Generation: 2}
	for _, tc := range []struct {
		name     string
		old, new *v1alpha1.ClusterAdmissionPolicy
		want     bool
	}{
		{"status condition only", base, conditionOnly, false},
		{"labels only", base, withLabel(base), false},
		{"new generation", base, specChanged, true},
		{"record changed", base, recordChanged, true},
		{"record cleared", base, recordCleared, true},
		// The rules the webhook leaves to the generated VAP follow status.fallback.
		{"fallback synced", base, fallbackSynced, true},
	} {
		if got := reconcileOn.Update(event.UpdateEvent{ObjectOld: tc.old, ObjectNew: tc.new}); got != tc.want {
			t.Errorf("%s: predicate = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !reconcileOn.Create(event.CreateEvent{Object: base}) || !reconcileOn.Delete(event.DeleteEvent{Object: base}) ||
		!reconcileOn.Generic(event.GenericEvent{Object: base}) {
		t.Error("creates, deletes and the election sweep must pass")
	}
}

func withLabel(p *v1alpha1.ClusterAdmissionPolicy) *v1alpha1.ClusterAdmissionPolicy {
	p = p.DeepCopy()
	p.Labels = map[string]string{"team": "a"}
	return p
}

// replica is one sealgate replica's reconciler over a shared fake API server.
type replica struct {
	*PolicyReconciler
	elect func()
}

func newReplica(c client.Client) replica {
	l := &testLeader{gained: make(chan struct{}, 1)}
	return replica{&PolicyReconciler{Client: c, Store: NewStore(), Log: logr.Discard(), Leader: l}, l.win}
}

// testLeader is a Leadership the test hands out.
type testLeader struct {
	leading atomic.Bool
	gained  chan struct{}
}

func (l *testLeader) Leading() bool           { return l.leading.Load() }
func (l *testLeader) Gained() <-chan struct{} { return l.gained }
func (l *testLeader) win() {
	l.leading.Store(true)
	l.gained <- struct{}{}
}

func (r replica) reconcile(t *testing.T) {
	t.Helper()
	if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: testPolicy}}); err != nil {
		t.Fatal(err)
	}
}

// inForce is the generation this replica enforces, 0 for none.
func (r replica) inForce() int64 {
	if p, ok := r.Store.Get(testPolicy); ok {
		return p.Generation
	}
	return 0
}

// fakeAPI is a fake API server holding obj that counts status writes.
func fakeAPI(t *testing.T, obj *v1alpha1.ClusterAdmissionPolicy) (client.Client, *atomic.Int32) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	writes := &atomic.Int32{}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(obj).
		WithStatusSubresource(&v1alpha1.ClusterAdmissionPolicy{}).
		WithInterceptorFuncs(interceptor.Funcs{
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
				writes.Add(1)
				return c.SubResource(sub).Patch(ctx, obj, p, opts...)
			},
			SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
				writes.Add(1)
				return c.SubResource(sub).Update(ctx, obj, opts...)
			},
		}).Build()
	return c, writes
}

// updateSpec stores a new generation of the policy's spec, as the API server would.
func updateSpec(t *testing.T, c client.Client, spec v1alpha1.PolicySpec) {
	t.Helper()
	var obj v1alpha1.ClusterAdmissionPolicy
	if err := c.Get(context.Background(), types.NamespacedName{Name: testPolicy}, &obj); err != nil {
		t.Fatal(err)
	}
	obj.Spec = spec
	obj.Generation++
	if err := c.Update(context.Background(), &obj); err != nil {
		t.Fatal(err)
	}
}

func getPolicy(t *testing.T, c client.Client) *v1alpha1.ClusterAdmissionPolicy {
	t.Helper()
	var obj v1alpha1.ClusterAdmissionPolicy
	if err := c.Get(context.Background(), types.NamespacedName{Name: testPolicy}, &obj); err != nil {
		t.Fatal(err)
	}
	return &obj
}

// The status writer writes only on the elected replica and only when the status differs.
func TestStatusWriter(t *testing.T) {
	c, writes := fakeAPI(t, object(1, validSpec(false), nil))
	leader, follower := newReplica(c), newReplica(c)
	follower.reconcile(t)
	if writes.Load() != 0 {
		t.Fatalf("a replica that is not elected wrote status %d times", writes.Load())
	}
	if follower.inForce() != 1 {
		t.Errorf("a replica that is not elected must still enforce the policy: in force %d", follower.inForce())
	}
	leader.elect()
	leader.reconcile(t)
	if writes.Load() != 1 {
		t.Fatalf("the elected replica wrote status %d times, want 1", writes.Load())
	}
	got := getPolicy(t, c)
	cond := meta.FindStatusCondition(got.Status.Conditions, ConditionReady)
	if cond == nil || cond.Status != metav1.ConditionTrue || got.Status.ObservedGeneration != 1 ||
		got.Status.InForce == nil || got.Status.InForce.Generation != 1 || got.Status.InForce.Spec.Containers == nil {
		t.Fatalf("status = %+v", got.Status)
	}
	for range 3 {
		leader.reconcile(t)
		follower.reconcile(t)
	}
	if writes.Load() != 1 {
		t.Errorf("status rewritten without a change: %d writes, want 1", writes.Load())
	}
}

// Replicas enforce the same generation after an invalid update, whatever they held before: one that
// saw every generation, one that started after the invalid update, and the elected writer.
func TestReplicasAgreeAfterInvalidUpdate(t *testing.T) {
	for _, recorded := range []bool{true, false} {
		name := map[bool]string{true: "record of generation 2", false: "no record"}[recorded]
		t.Run(name, func(t *testing.T) {
			c, writes := fakeAPI(t, object(1, validSpec(false), nil))
			leader, old := newReplica(c), newReplica(c)
			if recorded {
				leader.elect()
			}
			leader.reconcile(t)
			old.reconcile(t)
			updateSpec(t, c, validSpec(true)) // generation 2, valid
			leader.reconcile(t)
			old.reconcile(t)
			updateSpec(t, c, invalidSpec()) // generation 3, bypassed the policy webhook
			leader.reconcile(t)
			old.reconcile(t)
			late := newReplica(c) // started after the invalid update
			if err := (&initialLoad{r: late.PolicyReconciler, reader: c, cache: syncedCache{}}).Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := map[bool]int64{true: 2, false: 0}[recorded]
			for n, r := range map[string]replica{"elected": leader, "running since generation 1": old, "started after the invalid update": late} {
				if got := r.inForce(); got != want {
					t.Errorf("%s replica enforces generation %d, want %d (0: none)", n, got, want)
				}
			}
			late.reconcile(t)
			before := writes.Load()
			for range 3 {
				for _, r := range []replica{leader, old, late} {
					r.reconcile(t)
				}
			}
			if writes.Load() != before {
				t.Errorf("status rewritten %d times with nothing changed", writes.Load()-before)
			}
			if recorded {
				cond := meta.FindStatusCondition(getPolicy(t, c).Status.Conditions, ConditionReady)
				if cond == nil || !strings.Contains(cond.Message, "generation 2 stays in force") || cond.ObservedGeneration != 3 {
					t.Errorf("Ready = %+v", cond)
				}
			}
		})
	}
}

type syncedCache struct{}

func (syncedCache) WaitForCacheSync(context.Context) bool { return true }

// A replica that becomes leader enqueues every policy, so it writes whatever status was left stale.
func TestSweepOnElection(t *testing.T) {
	other := object(1, validSpec(false), nil)
	other.Name = "other"
	c, _ := fakeAPI(t, object(1, validSpec(false), nil))
	if err := c.Create(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	l := &testLeader{gained: make(chan struct{}, 1)}
	events := make(chan event.GenericEvent, 4)
	s := &sweepOnElection{log: logr.Discard(), leader: l, reader: c, cache: syncedCache{}, events: events}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	// Each election, the first and a later one after the lease was lost, sweeps every policy.
	for round := 1; round <= 2; round++ {
		l.win()
		var got []string
		for len(got) < 2 {
			select {
			case ev := <-events:
				got = append(got, ev.Object.GetName())
			case <-time.After(10 * time.Second):
				t.Fatalf("election %d: enqueued only %v", round, got)
			}
		}
		if strings.Join(got, ",") != "other,p" {
			t.Errorf("election %d: enqueued %v, want [other p]", round, got)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// fakeConditions is a ConditionSyncer that records the policies in force when it is synced.
type fakeConditions struct {
	store  *Store
	err    error
	synced []int // how many policies were in force at each sync
}

func (f *fakeConditions) Sync(context.Context) error {
	ps, _ := f.store.Policies()
	f.synced = append(f.synced, len(ps))
	return f.err
}

// TestConditionsBeforeStatus: the elected replica writes the matchConditions after putting a policy
// in force and before it reports it in force; while they cannot be written, the status waits.
func TestConditionsBeforeStatus(t *testing.T) {
	c, writes := fakeAPI(t, object(1, validSpec(false), nil))
	leader, follower := newReplica(c), newReplica(c)
	leader.Store.MarkLoaded()
	conds := &fakeConditions{store: leader.Store, err: errors.New("forbidden")}
	leader.Conditions = conds
	follower.Conditions = &fakeConditions{store: follower.Store}
	follower.reconcile(t)
	if n := len(follower.Conditions.(*fakeConditions).synced); n != 0 {
		t.Errorf("a replica that is not elected synced the conditions %d times", n)
	}
	leader.elect()
	if _, err := leader.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: testPolicy}}); err == nil {
		t.Error("a failed conditions write was not returned for a retry")
	}
	if writes.Load() != 0 {
		t.Errorf("status written %d times while the conditions could not be", writes.Load())
	}
	conds.err = nil
	leader.reconcile(t)
	if writes.Load() != 1 {
		t.Errorf("status written %d times after the conditions, want 1", writes.Load())
	}
	if len(conds.synced) != 2 || conds.synced[0] != 1 {
		t.Errorf("conditions synced with %v policies in force, want the policy in force at each sync", conds.synced)
	}
}
