//go:build integration

package integration

import (
	"fmt"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/cluster"
	"github.com/sealgate/sealgate/pkg/vap"
	testcluster "github.com/sealgate/sealgate/test/cluster"
)

// spec.fallback against the real API server: the serving replica's elected writer keeps the
// generated ValidatingAdmissionPolicy and binding in step with the policy, deletes them itself (this
// control plane runs no garbage collector), and says so in status.fallback.

// fallbackState is what the cluster holds for a policy: its generation and status.fallback, and the
// generated objects (nil when absent).
type fallbackState struct {
	gen     int64
	uid     string
	status  *v1alpha1.FallbackStatus
	policy  *admissionv1.ValidatingAdmissionPolicy
	binding *admissionv1.ValidatingAdmissionPolicyBinding
}

func getFallback(t *testing.T, name string) fallbackState {
	t.Helper()
	var s fallbackState
	var p v1alpha1.ClusterAdmissionPolicy
	if err := env.Client.Get(t.Context(), client.ObjectKey{Name: name}, &p); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	s.gen, s.uid, s.status = p.Generation, string(p.UID), p.Status.Fallback
	s.policy, s.binding = &admissionv1.ValidatingAdmissionPolicy{}, &admissionv1.ValidatingAdmissionPolicyBinding{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Name: vap.Name(name)}, s.policy); apierrors.IsNotFound(err) {
		s.policy = nil
	} else if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Name: vap.Name(name)}, s.binding); apierrors.IsNotFound(err) {
		s.binding = nil
	} else if err != nil {
		t.Fatal(err)
	}
	return s
}

// rules is status.fallback's rules as "rule=State".
func (s fallbackState) rules() string {
	if s.status == nil {
		return ""
	}
	var out []string
	for _, r := range s.status.Rules {
		out = append(out, r.Rule+"="+r.State)
	}
	return strings.Join(out, ",")
}

// enforces reports whether the generated policy has a validation of rule.
func (s fallbackState) enforces(policy, rule string) bool {
	if s.policy == nil {
		return false
	}
	for _, v := range s.policy.Spec.Validations {
		if strings.Contains(v.MessageExpression, "["+policy+"/"+rule+"]") {
			return true
		}
	}
	return false
}

func (s fallbackState) String() string {
	var validations int
	if s.policy != nil {
		validations = len(s.policy.Spec.Validations)
	}
	return fmt.Sprintf("generation %d, status.fallback %+v, policy %t (%d validations), binding %t",
		s.gen, s.status, s.policy != nil, validations, s.binding != nil)
}

// generatedFor reports whether o carries the labels and the controller reference to the policy.
func generatedFor(o client.Object, name, uid string) bool {
	refs := o.GetOwnerReferences()
	return o.GetLabels()[cluster.LabelPolicy] == name && o.GetLabels()["app.kubernetes.io/managed-by"] == "sealgate" &&
		len(refs) == 1 && refs[0].Kind == v1alpha1.Kind && refs[0].Name == name && string(refs[0].UID) == uid &&
		refs[0].Controller != nil && *refs[0].Controller
}

func waitFallback(t *testing.T, name, what string, ok func(fallbackState) bool) fallbackState {
	t.Helper()
	var s fallbackState
	eventually(t, settle, what, func() (bool, string) {
		s = getFallback(t, name)
		return ok(s), s.String()
	})
	return s
}

func TestFallbackFollowsPolicy(t *testing.T) {
	const name = "int-fallback"
	const base = `mode: Enforce, fallback: ValidatingAdmissionPolicy, match: {namespaceSelector: {matchLabels: {int-test: fallback}}}`
	applyPolicy(t, name, `{`+base+`, containers: {privileged: Forbid}, imageConfig: {runAsRoot: Forbid}}`)

	// Created, owned, bound, and reported rule by rule.
	s := waitFallback(t, name, "the generated objects and status Synced", func(s fallbackState) bool {
		return s.policy != nil && s.binding != nil && s.status != nil && s.status.State == v1alpha1.FallbackSynced &&
			s.status.Generation == s.gen
	})
	if !generatedFor(s.policy, name, s.uid) || !generatedFor(s.binding, name, s.uid) {
		t.Errorf("labels or owner: policy %v %+v, binding %v %+v", s.policy.Labels, s.policy.OwnerReferences, s.binding.Labels, s.binding.OwnerReferences)
	}
	if s.binding.Spec.PolicyName != vap.Name(name) || s.status.Name != vap.Name(name) {
		t.Errorf("binding names %q, status %q; want %q", s.binding.Spec.PolicyName, s.status.Name, vap.Name(name))
	}
	if got := s.rules(); got != "containers.privileged=Exact,imageConfig.runAsRoot=NotCompiled" || !s.enforces(name, "containers.privileged") {
		t.Errorf("rules %q, enforces privileged %t", got, s.enforces(name, "containers.privileged"))
	}
	// The binding requires the webhook's own selectors too: the VAP never judges a namespace the
	// webhook is never sent, even one the policy's selector matches.
	sel, err := metav1.LabelSelectorAsSelector(s.binding.Spec.MatchResources.NamespaceSelector)
	if err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[string]bool{"int-fallback": true, "kube-system": false, testcluster.Namespace: false} {
		if got := sel.Matches(labels.Set{"int-test": "fallback", "kubernetes.io/metadata.name": ns}); got != want {
			t.Errorf("binding namespaceSelector %s matches namespace %s: %v, want %v", sel, ns, got, want)
		}
	}

	// A new generation: the objects and the status follow it.
	gen := s.gen
	mustKubectl(t, policyYAML(name, `{`+base+`, containers: {privileged: Forbid, readOnlyRootFilesystem: Require}, imageConfig: {runAsRoot: Forbid}}`), "apply", "-f", "-")
	s = waitFallback(t, name, "the generated policy of the new generation", func(s fallbackState) bool {
		return s.gen > gen && s.status != nil && s.status.Generation == s.gen && s.enforces(name, "containers.readOnlyRootFilesystem") &&
			strings.Count(s.rules(), "=") == 3
	})
	if got := s.rules(); got != "containers.privileged=Exact,containers.readOnlyRootFilesystem=Exact,imageConfig.runAsRoot=NotCompiled" {
		t.Errorf("rules after the change: %q", got)
	}

	// An exception waiving a rule takes it out of the VAP, which cannot honour it; deleting the
	// exception puts it back.
	applyException(t, testcluster.Namespace, "int-fallback-agent", `{reason: "the agent", policies: [{name: `+name+`, rules: [containers.privileged]}],
  match: {namespaces: [int-fallback], names: ["agent-*"]}}`)
	s = waitFallback(t, name, "the waived rule out of the generated policy", func(s fallbackState) bool {
		return s.policy != nil && !s.enforces(name, "containers.privileged") && s.enforces(name, "containers.readOnlyRootFilesystem") &&
			strings.HasPrefix(s.rules(), "containers.privileged=NotCompiled")
	})
	if got := s.rules(); got != "containers.privileged=NotCompiled,containers.readOnlyRootFilesystem=Exact,imageConfig.runAsRoot=NotCompiled" ||
		!strings.Contains(s.status.Rules[0].Reason, "waived by PolicyException "+testcluster.Namespace+"/int-fallback-agent") {
		t.Errorf("rules with the exception: %+v", s.status.Rules)
	}
	mustKubectl(t, "", "delete", "policyexception", "int-fallback-agent", "-n", testcluster.Namespace)
	waitFallback(t, name, "the rule back once the exception is gone", func(s fallbackState) bool {
		return s.enforces(name, "containers.privileged")
	})

	// Turned off: deleted, status.fallback gone.
	mustKubectl(t, policyYAML(name, `{mode: Enforce, containers: {privileged: Forbid}}`), "apply", "-f", "-")
	waitFallback(t, name, "no objects and no status.fallback with fallback off", func(s fallbackState) bool {
		return s.policy == nil && s.binding == nil && s.status == nil
	})

	// On again, then the policy deleted: deleted by sealgate, with no garbage collector running.
	mustKubectl(t, policyYAML(name, `{`+base+`, containers: {privileged: Forbid}}`), "apply", "-f", "-")
	waitFallback(t, name, "the objects back with fallback on", func(s fallbackState) bool {
		return s.policy != nil && s.binding != nil && s.status != nil && s.status.State == v1alpha1.FallbackSynced
	})
	mustKubectl(t, "", "delete", "cap", name)
	waitFallback(t, name, "no objects once the policy is deleted", func(s fallbackState) bool {
		return s.policy == nil && s.binding == nil
	})
}

// A policy none of whose rules compiles is Empty, with no objects.
func TestFallbackEmpty(t *testing.T) {
	const name = "int-fallback-empty"
	applyPolicy(t, name, `{mode: Enforce, fallback: ValidatingAdmissionPolicy, match: {namespaceSelector: {matchLabels: {int-test: fallback}}},
  imageConfig: {runAsRoot: Forbid}}`)
	s := waitFallback(t, name, "status Empty", func(s fallbackState) bool {
		return s.status != nil && s.status.State == v1alpha1.FallbackEmpty && s.status.Generation == s.gen
	})
	if s.policy != nil || s.binding != nil || s.rules() != "imageConfig.runAsRoot=NotCompiled" {
		t.Errorf("Empty: %s, rules %q", s, s.rules())
	}
}
