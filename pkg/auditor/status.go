package auditor

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/policy"
)

// MaxStatusRules bounds status.audit.rules (the CRD's maxItems).
const MaxStatusRules = 64

// auditStatus is what status.audit of p says after an audit that s sums up, at now.
func auditStatus(p *policy.Policy, s *audit.Summary, now time.Time) v1alpha1.AuditStatus {
	st := v1alpha1.AuditStatus{LastScanTime: metav1.NewTime(now.Truncate(time.Second)), Mode: p.Mode}
	i := slices.IndexFunc(s.Policies, func(pt audit.PolicyTotal) bool { return pt.Policy == p.Name })
	if i < 0 {
		return st
	}
	pt := &s.Policies[i]
	st.ViolatingObjects, st.ViolatingPods, st.Namespaces = int32(pt.Objects), int32(pt.Pods), int32(len(pt.Namespaces))
	// Rules come worst first from audit.Summary; the cut keeps the worst.
	for _, rt := range pt.Rules[:min(len(pt.Rules), MaxStatusRules)] {
		st.Rules = append(st.Rules, v1alpha1.RuleCount{Rule: rt.Rule, Objects: int32(rt.Objects)})
	}
	return st
}

// sameCounts reports whether two audit statuses say the same but for the time.
func sameCounts(a, b *v1alpha1.AuditStatus) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Mode == b.Mode && a.ViolatingObjects == b.ViolatingObjects && a.ViolatingPods == b.ViolatingPods &&
		a.Namespaces == b.Namespaces && slices.Equal(a.Rules, b.Rules)
}

// statusWriter writes status.audit of each policy: only status.audit, by a JSON merge patch, so
// that it never overwrites what the PolicyReconciler writes (conditions, inForce), and the
// reconciler, whose status comparison ignores audit and which does not reconcile on status-only
// changes, never reacts to it.
type statusWriter struct {
	c client.Client
	// cache reads the policies as the manager's cache has them, for what status.audit says when this
	// replica has not written it yet.
	cache client.Reader
	wrote func(kind string)
	// written is what this replica wrote in its current term as the leader, by policy name; the
	// cache may lag behind a write, this does not.
	written map[string]*v1alpha1.AuditStatus
}

// write writes want into the status of policy name when its counts differ from what the status
// says, or when force is set (a full scan after the policy changed, which refreshes lastScanTime).
func (w *statusWriter) write(ctx context.Context, name string, want v1alpha1.AuditStatus, force bool) error {
	have := w.written[name]
	if have == nil {
		var obj v1alpha1.ClusterAdmissionPolicy
		if err := w.cache.Get(ctx, client.ObjectKey{Name: name}, &obj); err != nil {
			if apierrors.IsNotFound(err) {
				return nil // deleted since
			}
			return fmt.Errorf("reading policy %q: %w", name, err)
		}
		have = obj.Status.Audit
	}
	if !force && sameCounts(have, &want) {
		return nil
	}
	audit := map[string]any{}
	raw, err := json.Marshal(want)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &audit); err != nil {
		return err
	}
	if len(want.Rules) == 0 {
		// A merge patch keeps what it does not name: null removes the rules of an earlier scan.
		audit["rules"] = nil
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"audit": audit}})
	if err != nil {
		return err
	}
	obj := &v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := w.c.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("writing status.audit of policy %q: %w", name, err)
	}
	w.written[name] = &want
	w.wrote("status")
	return nil
}

// violationCounts are the gauge values of an audit: violating objects per policy and rule.
func violationCounts(s *audit.Summary) []metrics.AuditCount {
	var out []metrics.AuditCount
	for _, pt := range s.Policies {
		for _, rt := range pt.Rules {
			out = append(out, metrics.AuditCount{Policy: pt.Policy, Rule: rt.Rule, Objects: rt.Objects})
		}
	}
	return out
}
