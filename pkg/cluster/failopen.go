package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// failOpenPeriod is how often the guard reads the webhook configuration besides each policy change:
// an edit of its failurePolicy is seen within it.
const failOpenPeriod = time.Minute

// maxFailOpenLog bounds the list of unprotected rules in the guard's log line.
const maxFailOpenLog = 2 << 10

// FailOpenGuard says when the workload webhook fails open over rules nothing else enforces: its
// failurePolicy is Ignore while an Enforce policy has rules that its generated
// ValidatingAdmissionPolicy does not enforce exactly (Policy.SkipRules). While sealgate is down those
// rules are off. It sets the gauge sealgate_fail_open_unprotected_rules and logs each change, on
// every replica, after each policy change and every failOpenPeriod.
type FailOpenGuard struct {
	// Reader reads the webhook configuration live: sealgate may get that one object, not watch it.
	Reader client.Reader
	Store  *Store
	// WebhookConfig is the name of sealgate's ValidatingWebhookConfiguration.
	WebhookConfig string
	Rules         *rules.Registry
	Metrics       metrics.FailOpenRecorder
	Log           logr.Logger

	last string // the last list logged, so that an unchanged state is logged once
}

// Start implements manager.Runnable.
func (g *FailOpenGuard) Start(ctx context.Context) error {
	tick := time.NewTicker(failOpenPeriod)
	defer tick.Stop()
	for {
		_, changed := g.Store.Changes()
		if g.Store.Loaded() {
			g.check(ctx)
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// NeedLeaderElection: every replica exports the gauge, so any one scraped shows it.
func (g *FailOpenGuard) NeedLeaderElection() bool { return false }

// check reads the webhook's failurePolicy and states what fails open. A failed read keeps the last
// state: the next change or tick reads again.
func (g *FailOpenGuard) check(ctx context.Context) {
	ignore, err := g.failsOpen(ctx)
	if err != nil {
		g.Log.Error(err, "reading the webhook's failurePolicy for the fail-open check")
		return
	}
	var open []unprotected
	if ignore {
		ps, _ := g.Store.Policies()
		open = unprotectedRules(g.Rules, ps)
	}
	n := 0
	for _, u := range open {
		n += len(u.rules)
	}
	g.Metrics.FailOpenUnprotected(n)
	text := describeUnprotected(open, maxFailOpenLog)
	if text == g.last {
		return
	}
	g.last = text
	if n == 0 {
		g.Log.Info("fail-open check: every rule of every Enforce policy stays enforced while sealgate is down", "failurePolicyIgnore", ignore)
		return
	}
	g.Log.Info(fmt.Sprintf("ValidatingWebhookConfiguration %s: webhook %s has failurePolicy Ignore, so while sealgate is down "+
		"nothing enforces %d rule(s) of Enforce policies; give those policies spec.fallback: ValidatingAdmissionPolicy "+
		"and only rules that compile Exact (status.fallback.rules), or set failurePolicy Fail (the chart's webhook.failurePolicy)",
		g.WebhookConfig, webhookconfig.WorkloadWebhook, n), "unprotected", text)
}

// failsOpen reports whether the workload webhook of the configuration has failurePolicy Ignore. No
// configuration (not installed yet, or deleted in a break-glass) calls no webhook: nothing fails open.
func (g *FailOpenGuard) failsOpen(ctx context.Context) (bool, error) {
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := g.Reader.Get(ctx, client.ObjectKey{Name: g.WebhookConfig}, &vwc); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", g.WebhookConfig, err)
	}
	for _, w := range vwc.Webhooks {
		if w.Name == webhookconfig.WorkloadWebhook {
			return w.FailurePolicy != nil && *w.FailurePolicy == admissionregistrationv1.Ignore, nil
		}
	}
	return false, nil
}

// unprotected is an Enforce policy and its rules that nothing enforces while the webhook fails open.
type unprotected struct {
	policy string
	rules  []string
}

// unprotectedRules lists, for each Enforce policy, the rules it enables that its generated VAP does
// not enforce exactly: every rule unless spec.fallback is Synced with the generation in force, and
// then the Conservative and NotCompiled ones (a conservative rule stays on, but denies more than the
// policy says), and always the signature rules.
func unprotectedRules(reg *rules.Registry, policies []*policy.Policy) []unprotected {
	var out []unprotected
	for _, p := range policies {
		if p.Mode != v1alpha1.ModeEnforce {
			continue
		}
		u := unprotected{policy: p.Name}
		for _, r := range reg.Rules() {
			if rules.Enables(p, &r) && !p.SkipRules[r.ID] {
				u.rules = append(u.rules, r.ID)
			}
		}
		for _, s := range p.Signatures {
			u.rules = append(u.rules, fmt.Sprintf("signatures[%d]", s.Index))
		}
		if len(u.rules) > 0 {
			out = append(out, u)
		}
	}
	return out
}

// describeUnprotected renders the list as "policy: rule, rule; policy: rule", within maxBytes, saying
// how many policies it left out.
func describeUnprotected(us []unprotected, maxBytes int) string {
	const tail = len("; … (9999999999 more policies)")
	var b strings.Builder
	for i, u := range us {
		item := u.policy + ": " + strings.Join(u.rules, ", ")
		if i > 0 {
			item = "; " + item
		}
		if b.Len()+len(item) > maxBytes-tail {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "… (%d more policies)", len(us)-i)
			break
		}
		b.WriteString(item)
	}
	return b.String()
}
