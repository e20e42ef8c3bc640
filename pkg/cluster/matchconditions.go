package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/pkg/workload"
)

// Intervals of the matchConditions writer: how often the leader checks the configuration when no
// policy changed (a `helm upgrade` or `kubectl apply` may have replaced it), how soon it retries a
// failed write, and how often a replica that does not lead looks whether it leads now.
const (
	conditionResync   = time.Minute
	conditionRetry    = 5 * time.Second
	conditionFollower = retryPeriod
)

// conditionPrefix marks the conditions sealgate writes; any other condition in the webhook is the
// user's and is kept.
const conditionPrefix = "sealgate-"

// MatchConditionSync keeps the workload webhook's matchConditions equal to those the policies in
// force generate (webhookconfig.MatchConditions), so that the API server does not call sealgate for
// a request no policy could act on. Only the leader writes, and only when they differ; it rewrites
// them whenever the policies in force change. Disabled, it removes the conditions it wrote before, so
// that conditions generated for an older policy set never outlive the writer.
type MatchConditionSync struct {
	Client client.Client
	Store  *Store
	Leader Leadership
	// WebhookConfig names the ValidatingWebhookConfiguration.
	WebhookConfig string
	// Kinds are the custom kinds the handler evaluates.
	Kinds   workload.CustomKinds
	Enabled bool
	Log     logr.Logger

	mu sync.Mutex // one write at a time: the loop and the policy reconciler both sync
}

// NeedLeaderElection: it runs on every replica and writes only while this one leads.
func (s *MatchConditionSync) NeedLeaderElection() bool { return false }

// Start syncs until ctx ends: at each change of the policies in force, and every conditionResync.
func (s *MatchConditionSync) Start(ctx context.Context) error {
	for {
		_, changed := s.Store.Changes()
		wait := conditionFollower
		if s.Leader.Leading() && s.Store.Loaded() {
			wait = conditionResync
			if err := s.Sync(ctx); err != nil {
				s.Log.Error(err, "writing the webhook's matchConditions; sealgate is called for every request until they are written", "retryIn", conditionRetry)
				wait = conditionRetry
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-time.After(wait):
		}
	}
}

// Sync writes the conditions once, if they differ from what the configuration holds.
func (s *MatchConditionSync) Sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := s.Client.Get(ctx, client.ObjectKey{Name: s.WebhookConfig}, &vwc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // nothing to keep: sealgate runs without a configuration (tests, out of cluster)
		}
		return fmt.Errorf("reading webhook configuration %s: %w", s.WebhookConfig, err)
	}
	i := slices.IndexFunc(vwc.Webhooks, func(w admissionregistrationv1.ValidatingWebhook) bool {
		return w.Name == webhookconfig.WorkloadWebhook
	})
	if i < 0 {
		return nil
	}
	w := &vwc.Webhooks[i]
	var want []admissionregistrationv1.MatchCondition
	for _, c := range w.MatchConditions {
		if !strings.HasPrefix(c.Name, conditionPrefix) {
			want = append(want, c)
		}
	}
	if s.Enabled {
		policies, err := s.Store.Policies()
		if err != nil {
			return err
		}
		gen := webhookconfig.MatchConditions(policies, s.Kinds)
		// When the user's own conditions leave no room, sealgate is called as before.
		if len(want)+len(gen) <= maxMatchConditions {
			want = append(want, gen...)
		}
	}
	if slices.Equal(w.MatchConditions, want) || len(w.MatchConditions) == 0 && len(want) == 0 {
		return nil
	}
	w.MatchConditions = want
	// A conflict means another writer (the CA bundle, Helm) wrote first: the retry reads what it wrote.
	if err := s.Client.Update(ctx, &vwc, client.FieldOwner("sealgate")); err != nil {
		return fmt.Errorf("updating the matchConditions of %s: %w", s.WebhookConfig, err)
	}
	s.Log.Info("webhook matchConditions updated", "webhookConfiguration", s.WebhookConfig, "conditions", conditionNames(want))
	return nil
}

// maxMatchConditions is the API server's limit per webhook.
const maxMatchConditions = 64

func conditionNames(cs []admissionregistrationv1.MatchCondition) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, ",")
}
