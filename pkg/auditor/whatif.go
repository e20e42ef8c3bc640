package auditor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

// WhatIfBudget bounds the time one what-if takes: it runs inside the policy webhook's call, whose
// deadline is the API server's (10 s by default), and kubectl waits for it.
const WhatIfBudget = 2 * time.Second

// whatIfRules is how many rules the first warning names, worst first.
const whatIfRules = 5

// WhatIf estimates what a policy would do to the objects already in the cluster, from this replica's
// informers: PSA's namespace-label warning, for sealgate policies. It evaluates the policy alone,
// with the webhook's scope and namespace labels, grouped by top owner as the audit is, and skips
// signature rules: a registry call per image does not fit an apply.
type WhatIf struct {
	Informers *Informers
	// Engine is the webhook's; the what-if runs a copy that skips signatures.
	Engine *engine.Engine
	// Client reads the webhook configuration, for the scope.
	Client        client.Reader
	WebhookConfig string
	Namespace     string
	Log           logr.Logger
	// Budget is WhatIfBudget when zero.
	Budget time.Duration
}

// Check returns the warnings for a policy about to be created or changed: nil when it would find
// nothing among the objects already in the cluster.
func (w *WhatIf) Check(ctx context.Context, p *policy.Policy) []string {
	if !w.Informers.Synced() {
		return []string{"sealgate: the audit caches have not synced yet, so there is no estimate of what this policy " +
			"would find among the objects already in the cluster; run `sealgate audit --policy FILE` for one"}
	}
	budget := w.Budget
	if budget <= 0 {
		budget = WhatIfBudget
	}
	start := time.Now()
	deadline := start.Add(budget)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	scope, _, err := readScope(ctx, w.Client, w.WebhookConfig, w.Namespace)
	if err != nil {
		w.Log.Error(err, "what-if: reading the webhook's scope; assuming the default configuration's")
	}
	eng := *w.Engine
	eng.SkipSignatures = true
	eng.SkipImageConfig = true // no registry calls at apply time either
	a := &audit.Auditor{Engine: &eng, Policies: []*policy.Policy{p}, Scope: scope}
	r := audit.NewResult()
	total, checked, stopped := w.Informers.Len(), 0, false
namespaces:
	for _, ns := range w.Informers.Namespaces() {
		for _, o := range w.Informers.Objects(ns) {
			if time.Now().After(deadline) {
				stopped = true
				break namespaces
			}
			a.Add(ctx, r, o)
			checked++
		}
	}
	_, s := r.Finish()
	w.Log.V(1).Info("what-if", "policy", p.Name, "checked", checked, "objects", total, "stopped", stopped,
		"elapsed", time.Since(start).Round(time.Millisecond).String())
	return whatIfWarnings(p, s, stopped, checked, total, budget)
}

// whatIfWarnings words an estimate: what the policy would do, where it stopped, and that signatures
// were not checked. The policy webhook bounds what it passes on (pkg/admission).
func whatIfWarnings(p *policy.Policy, s *audit.Summary, stopped bool, checked, total int, budget time.Duration) []string {
	var out []string
	for _, pt := range s.Policies {
		if pt.Policy != p.Name || pt.Objects == 0 {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "sealgate: among what already runs, this policy %s %s", audit.Verb(p.Mode), audit.DescribeTotals(pt.Totals, 5))
		for i, rt := range pt.Rules {
			if i == whatIfRules {
				fmt.Fprintf(&b, ", … %d more", len(pt.Rules)-whatIfRules)
				break
			}
			sep := ", "
			if i == 0 {
				sep = "; by rule: "
			}
			fmt.Fprintf(&b, "%s%s %d", sep, rt.Rule, rt.Objects)
		}
		out = append(out, b.String())
	}
	if stopped {
		out = append(out, fmt.Sprintf("sealgate: the estimate stopped after %s having checked %d of %d objects; "+
			"`sealgate audit --policy FILE` checks them all", budget, checked, total))
	}
	if len(out) > 0 && len(p.Signatures) > 0 {
		out = append(out, "sealgate: the estimate does not check signature rules (no registry calls at apply time); "+
			"the background audit and `sealgate audit` do")
	}
	if len(out) > 0 && rules.NeedsImageConfigs(p) {
		out = append(out, "sealgate: the estimate does not read image configs for spec.imageConfig (no registry calls at apply time); "+
			"the background audit and `sealgate audit` do")
	}
	return out
}
