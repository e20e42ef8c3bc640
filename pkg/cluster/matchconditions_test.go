package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/pkg/workload"
)

type notLeading struct{}

func (notLeading) Leading() bool           { return false }
func (notLeading) Gained() <-chan struct{} { return nil }

func conditionsOf(t *testing.T, c client.Client) []admissionregistrationv1.MatchCondition {
	t.Helper()
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Get(context.Background(), client.ObjectKey{Name: "sealgate"}, &vwc); err != nil {
		t.Fatal(err)
	}
	return vwc.Webhooks[0].MatchConditions
}

// TestMatchConditionSync: the leader writes the conditions of the policies in force, follows their
// changes, keeps the user's own conditions, writes nothing when nothing differs, and disabled
// removes what it wrote; a replica that does not lead writes nothing.
func TestMatchConditionSync(t *testing.T) {
	vwc, err := webhookconfig.Validating(webhookconfig.Options{Namespace: "sealgate-system", Service: "sealgate"})
	if err != nil {
		t.Fatal(err)
	}
	user := admissionregistrationv1.MatchCondition{Name: "not-leases", Expression: "true"}
	vwc.Webhooks[0].MatchConditions = []admissionregistrationv1.MatchCondition{user}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(vwc).Build()
	store := NewStore()
	store.MarkLoaded()
	s := &MatchConditionSync{Client: c, Store: store, Leader: AlwaysLeader(), WebhookConfig: "sealgate",
		Kinds: workload.BuiltinCustomKinds, Enabled: true, Log: logr.Discard()}
	ctx := context.Background()

	want := func(extra ...admissionregistrationv1.MatchCondition) []admissionregistrationv1.MatchCondition {
		return append([]admissionregistrationv1.MatchCondition{user}, extra...)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want(webhookconfig.MatchConditions(nil, s.Kinds)...), conditionsOf(t, c)); diff != "" {
		t.Errorf("no policy (-want +got):\n%s", diff)
	}

	// Started, it follows a change of the policies in force.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = s.Start(runCtx); close(done) }()
	p := compiled(t, "p")
	store.Put(p)
	ps, _ := store.Policies()
	wantWith := want(webhookconfig.MatchConditions(ps, s.Kinds)...)
	if cmp.Equal(wantWith, want(webhookconfig.MatchConditions(nil, s.Kinds)...)) {
		t.Fatal("one policy and none generate the same conditions: the test cannot see a change")
	}
	deadline := time.Now().Add(10 * time.Second)
	for cmp.Diff(wantWith, conditionsOf(t, c)) != "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	if diff := cmp.Diff(wantWith, conditionsOf(t, c)); diff != "" {
		t.Fatalf("after a policy was put in force (-want +got):\n%s", diff)
	}

	// Nothing differs: nothing is written.
	var before admissionregistrationv1.ValidatingWebhookConfiguration
	_ = c.Get(ctx, client.ObjectKey{Name: "sealgate"}, &before)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var after admissionregistrationv1.ValidatingWebhookConfiguration
	_ = c.Get(ctx, client.ObjectKey{Name: "sealgate"}, &after)
	if before.ResourceVersion != after.ResourceVersion {
		t.Error("a sync with nothing to change wrote the configuration")
	}

	// A replica that does not lead never writes, even at start.
	store.Delete("p")
	follower := &MatchConditionSync{Client: c, Store: store, Leader: notLeading{}, WebhookConfig: "sealgate",
		Kinds: workload.BuiltinCustomKinds, Enabled: true, Log: logr.Discard()}
	runCtx, stop = context.WithCancel(ctx)
	done = make(chan struct{})
	go func() { _ = follower.Start(runCtx); close(done) }()
	time.Sleep(50 * time.Millisecond)
	stop()
	<-done
	if diff := cmp.Diff(wantWith, conditionsOf(t, c)); diff != "" {
		t.Errorf("a replica that does not lead wrote (-want +got):\n%s", diff)
	}

	// Disabled: sealgate's conditions go, the user's stay.
	s.Enabled = false
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want(), conditionsOf(t, c)); diff != "" {
		t.Errorf("disabled (-want +got):\n%s", diff)
	}
}
