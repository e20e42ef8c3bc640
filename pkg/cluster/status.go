package cluster

import (
	"fmt"
	"unicode/utf8"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
)

// Condition type and reasons written to ClusterAdmissionPolicy status.
const (
	ConditionReady = "Ready"
	ReasonInForce  = "InForce"
	ReasonInvalid  = "Invalid"
)

// maxConditionMessage bounds the Ready message. The CRD allows 32768 bytes; a longer message would
// make every status write fail, and a policy with hundreds of invalid fields can produce one.
const maxConditionMessage = 4096

// desiredStatus is the status that states d for obj. The record changes only when the current
// generation is in force; otherwise the existing record stays, even one this version of sealgate
// cannot compile, so that the version that wrote it still finds it after a rollback.
func desiredStatus(obj *v1alpha1.ClusterAdmissionPolicy, d InForce) v1alpha1.PolicyStatus {
	st := *obj.Status.DeepCopy()
	st.ObservedGeneration = obj.Generation
	if d.Invalid == nil && d.Policy != nil {
		st.InForce = &v1alpha1.InForceRecord{Generation: obj.Generation, Spec: *d.Policy.Source.Spec.DeepCopy()}
	}
	meta.SetStatusCondition(&st.Conditions, readyCondition(obj.Generation, d))
	return st
}

// readyCondition states d for generation gen. Its semantics are part of the API: True/InForce, or
// False/Invalid with the errors and "generation N stays in force" or "the policy is not in force".
func readyCondition(gen int64, d InForce) metav1.Condition {
	cond := metav1.Condition{Type: ConditionReady, ObservedGeneration: gen}
	switch {
	case d.Invalid == nil:
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonInForce
		cond.Message = fmt.Sprintf("generation %d is in force in %s mode", gen, d.Policy.Mode)
		return cond
	case d.Policy != nil:
		cond.Message = fmt.Sprintf("; generation %d stays in force", d.Policy.Generation)
	case d.RecordInvalid != nil:
		cond.Message = fmt.Sprintf("; the policy is not in force: the generation recorded in status.inForce "+
			"does not compile with this version of sealgate (%v)", d.RecordInvalid)
	default:
		cond.Message = "; the policy is not in force"
	}
	cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInvalid
	// Only the errors are cut, never the verdict that ends the message.
	cond.Message = capMessage(d.Invalid.Error(), cond.Message)
	return cond
}

// capMessage joins errText and verdict, cutting errText so the whole fits maxConditionMessage, and
// says how much it cut.
func capMessage(errText, verdict string) string {
	if len(errText)+len(verdict) <= maxConditionMessage {
		return errText + verdict
	}
	verdict = cutUTF8(verdict, maxConditionMessage/2)
	head := cutUTF8(errText, maxConditionMessage-len(verdict)-len(" … (9999999999 more bytes)"))
	return fmt.Sprintf("%s … (%d more bytes)%s", head, len(errText)-len(head), verdict)
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does not split a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// reconcileOn passes creates, deletes, spec changes (a new generation) and changes of
// status.inForce, which a replica must decide again because an invalid generation depends on it, and
// of status.fallback, which says which rules the webhook leaves to the generated
// ValidatingAdmissionPolicy. It drops every other update, above all the condition-only status
// writes: without it every status write made every replica reconcile, and replicas that disagreed
// rewrote each other without end. (The policy reconciler never writes status.fallback.)
var reconcileOn = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	oldObj, ok1 := e.ObjectOld.(*v1alpha1.ClusterAdmissionPolicy)
	newObj, ok2 := e.ObjectNew.(*v1alpha1.ClusterAdmissionPolicy)
	if !ok1 || !ok2 {
		return true
	}
	return oldObj.Generation != newObj.Generation ||
		!apiequality.Semantic.DeepEqual(oldObj.Status.InForce, newObj.Status.InForce) ||
		!apiequality.Semantic.DeepEqual(oldObj.Status.Fallback, newObj.Status.Fallback)
}}

// statusEqual reports whether two statuses say the same: the generation observed, the record and
// the Ready condition, whose transition time does not count.
func statusEqual(a, b v1alpha1.PolicyStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || !apiequality.Semantic.DeepEqual(a.InForce, b.InForce) {
		return false
	}
	x, y := meta.FindStatusCondition(a.Conditions, ConditionReady), meta.FindStatusCondition(b.Conditions, ConditionReady)
	if x == nil || y == nil {
		return x == y
	}
	return x.Status == y.Status && x.Reason == y.Reason && x.Message == y.Message && x.ObservedGeneration == y.ObservedGeneration
}
