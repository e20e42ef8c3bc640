package cluster

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
)

// Reasons of a PolicyException's Ready condition besides ReasonInForce and ReasonInvalid. Their
// semantics are part of the API.
const (
	// ReasonExpired: spec.expires has passed; the exception waives nothing.
	ReasonExpired = "Expired"
	// ReasonNotAllowed: a policy the exception names ignores it (spec.exceptions.forbid, or the
	// exception's namespace is not one it accepts exceptions from); the message names each and why.
	ReasonNotAllowed = "NotAllowed"
)

// exceptionVerdict is what the status of one exception states.
type exceptionVerdict struct {
	// x is the compiled exception, nil when err says why it does not compile.
	x   *policy.Exception
	err error
	// ignoredBy says, per policy that ignores the exception, why; missing names the policies it
	// names that are not in force.
	ignoredBy, missing []string
}

// exceptionReady states v at now for generation gen: Invalid, then Expired, then NotAllowed, else
// True. A policy that does not exist yet is no reason for False: the exception applies to it once
// it is created, and the message says so.
func exceptionReady(gen int64, v exceptionVerdict, now time.Time) metav1.Condition {
	cond := metav1.Condition{Type: ConditionReady, ObservedGeneration: gen, Status: metav1.ConditionFalse}
	x := v.x
	switch {
	case v.err != nil:
		cond.Reason = ReasonInvalid
		cond.Message = capMessage(v.err.Error(), "; the exception is not in force: fix the fields above")
		return cond
	case x.Expired(now):
		cond.Reason = ReasonExpired
		cond.Message = fmt.Sprintf("expired at %s (spec.expires): it waives nothing, and what it waived is enforced again; "+
			"move spec.expires to renew it, or delete it", x.Expires.UTC().Format(time.RFC3339))
		return cond
	case len(v.ignoredBy) > 0:
		cond.Reason = ReasonNotAllowed
		cond.Message = capMessage(fmt.Sprintf("ignored by %d of the %d policies it names: %s", len(v.ignoredBy), len(x.Policies),
			strings.Join(v.ignoredBy, "; ")), appliesTo(v))
		return cond
	}
	cond.Status, cond.Reason = metav1.ConditionTrue, ReasonInForce
	cond.Message = "in force" + appliesTo(v)
	if !x.Expires.IsZero() {
		cond.Message += fmt.Sprintf("; it expires at %s (spec.expires)", x.Expires.UTC().Format(time.RFC3339))
	}
	return cond
}

// appliesTo says which named policies take the exception, and which are not in force yet.
func appliesTo(v exceptionVerdict) string {
	var b strings.Builder
	var applies []string
	for _, p := range v.x.Policies {
		if !contains(v.missing, p.Name) && !ignores(v.ignoredBy, p.Name) {
			applies = append(applies, fmt.Sprintf("%q", p.Name))
		}
	}
	if len(applies) > 0 {
		fmt.Fprintf(&b, "; it applies to %s", strings.Join(applies, ", "))
	}
	if len(v.missing) > 0 {
		q := make([]string, len(v.missing))
		for i, m := range v.missing {
			q[i] = fmt.Sprintf("%q", m)
		}
		fmt.Fprintf(&b, "; no policy %s is in the cluster: it applies to each once it is", strings.Join(q, ", "))
	}
	return b.String()
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// ignores reports whether one of the reasons is about policy name (each starts `policy "name"`).
func ignores(reasons []string, name string) bool {
	prefix := fmt.Sprintf("policy %q ", name)
	for _, r := range reasons {
		if strings.HasPrefix(r, prefix) {
			return true
		}
	}
	return false
}

// desiredExceptionStatus is the status that states v for obj at now.
func desiredExceptionStatus(obj *v1alpha1.PolicyException, v exceptionVerdict, now time.Time) v1alpha1.PolicyExceptionStatus {
	st := *obj.Status.DeepCopy()
	st.ObservedGeneration = obj.Generation
	meta.SetStatusCondition(&st.Conditions, exceptionReady(obj.Generation, v, now))
	return st
}

// exceptionStatusEqual reports whether two statuses say the same: the generation observed and the
// Ready condition, whose transition time does not count.
func exceptionStatusEqual(a, b v1alpha1.PolicyExceptionStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration {
		return false
	}
	x, y := meta.FindStatusCondition(a.Conditions, ConditionReady), meta.FindStatusCondition(b.Conditions, ConditionReady)
	if x == nil || y == nil {
		return x == y
	}
	return x.Status == y.Status && x.Reason == y.Reason && x.Message == y.Message && x.ObservedGeneration == y.ObservedGeneration
}
