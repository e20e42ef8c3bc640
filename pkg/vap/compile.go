// Package vap compiles a sealgate policy to a ValidatingAdmissionPolicy and its binding, so that the
// API server keeps enforcing what CEL can express while the webhook is down (issue 12). The rules
// say how they compile (rules.Def.CEL, or NoCEL with the reason); this package adds where the pod
// spec is in each kind, the policy's match and exclusions, and its mode. The image CEL is in
// pkg/vap/celimage.
package vap

import (
	"fmt"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/workload"
)

// State says how a rule of the policy is enforced by the generated objects.
type State string

const (
	// Exact: the VAP denies exactly what the webhook's rule denies.
	Exact State = "Exact"
	// Conservative: the VAP denies at least what the webhook's rule denies, and more (Reason says what).
	Conservative State = "Conservative"
	// NotCompiled: the VAP does not enforce the rule (Reason says why); only the webhook does.
	NotCompiled State = "NotCompiled"
)

// RuleStatus is how one rule the policy enables is compiled.
type RuleStatus struct {
	Rule   string
	State  State
	Reason string
}

// Result is a compiled policy.
type Result struct {
	Policy  *admissionv1.ValidatingAdmissionPolicy
	Binding *admissionv1.ValidatingAdmissionPolicyBinding
	// Policy and Binding are nil when no rule of the policy compiles: the API server refuses a
	// policy without validations, and there is nothing to enforce.
	// Rules lists every rule the policy enables, in the registry's order, then its signatures.
	Rules []RuleStatus
	// Checks is the rule ID of each of the policy's validations, by index.
	Checks []string
}

// Name is the name of the generated policy and binding: "sealgate-" and the policy's name.
func Name(policyName string) string { return "sealgate-" + policyName }

// Compile compiles p with the default rule registry.
func Compile(p *policy.Policy) (*Result, error) { return CompileWith(rules.Default(), p) }

// Options change what Compile leaves to the webhook.
type Options struct {
	// Waived maps a rule ID or family ("containers", "podSecurity") to the "namespace/name" of a
	// PolicyException that waives it. A ValidatingAdmissionPolicy cannot honour exceptions, so a
	// rule with a waived ID, family or check is left out and listed as NotCompiled.
	Waived map[string]string
	// WebhookNamespaceSelector and WebhookObjectSelector are the selectors of sealgate's workload
	// webhook: the binding requires them too, so that the VAP never judges what the webhook is never
	// sent (kube-system, sealgate's own namespace, the chart's webhook.excludeNamespaces and
	// webhook.namespaceSelector). A nil namespace selector is the default install's for an unknown
	// namespace: kube-system excluded.
	WebhookNamespaceSelector, WebhookObjectSelector *metav1.LabelSelector
}

// CompileWith compiles p with the rules of reg.
func CompileWith(reg *rules.Registry, p *policy.Policy) (*Result, error) {
	return CompileWithOptions(reg, p, Options{})
}

// CompileWithOptions compiles p with the rules of reg, leaving out what o says.
func CompileWithOptions(reg *rules.Registry, p *policy.Policy, o Options) (*Result, error) {
	kinds, err := matchedKinds(p)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	forbidden := metav1.StatusReasonForbidden
	var validations []admissionv1.Validation
	for _, r := range reg.Rules() {
		if !rules.Enables(p, &r) {
			continue
		}
		if r.CEL == nil {
			reason := r.NoCEL
			if reason == "" {
				reason = "no CEL yet"
			}
			res.Rules = append(res.Rules, RuleStatus{Rule: r.ID, State: NotCompiled, Reason: reason})
			continue
		}
		checks := r.CEL(p)
		if x := o.waivedBy(r.ID, checks); x != "" {
			res.Rules = append(res.Rules, RuleStatus{Rule: r.ID, State: NotCompiled,
				Reason: "waived by PolicyException " + x + ", which a ValidatingAdmissionPolicy cannot honour"})
			continue
		}
		st := RuleStatus{Rule: r.ID, State: Exact}
		for _, c := range checks {
			if !c.Exact {
				st.State, st.Reason = Conservative, c.Note
			}
			res.Checks = append(res.Checks, c.Rule)
			validations = append(validations, admissionv1.Validation{
				Expression: c.Expression,
				// Forbidden, as the webhook answers: a policy verdict, not an invalid object
				// (the API server's default for a VAP denial is 422 Invalid).
				Reason: &forbidden,
				// The static message is what the API server shows if the message expression fails.
				Message:           fmt.Sprintf("the object violates rule %s of sealgate policy %s", c.Rule, p.Name),
				MessageExpression: "(" + c.MessageExpression + ") + " + quote(" ["+p.Name+"/"+c.Rule+"]"),
			})
		}
		res.Rules = append(res.Rules, st)
	}
	for _, s := range p.Signatures {
		res.Rules = append(res.Rules, RuleStatus{Rule: fmt.Sprintf("signatures[%d]", s.Index), State: NotCompiled,
			Reason: "verifying a signature needs the registry and the keys, which CEL cannot reach"})
	}
	if len(validations) == 0 {
		return res, nil
	}
	name := Name(p.Name)
	fail := admissionv1.Fail
	res.Policy = &admissionv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": "sealgate"}},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: resourceRules(kinds)},
			MatchConditions: append(hasPodSpec(kinds),
				admissionv1.MatchCondition{Name: "sealgate-changes-pod-spec", Expression: changesPodSpec(kinds)}),
			Variables: []admissionv1.Variable{
				{Name: "spec", Expression: byKind(kinds, func(k workload.Kind) string { return "object." + k.SpecPath })},
				{Name: "specPath", Expression: byKind(kinds, func(k workload.Kind) string { return quote(k.SpecPath) })},
				{Name: "generated", Expression: byKind(kinds, func(k workload.Kind) string { return generated(k, false) })},
				{Name: "generatedInit", Expression: byKind(kinds, func(k workload.Kind) string { return generated(k, true) })},
				// The pod's annotations, {} when it has none (the PSS AppArmor and seccomp annotations).
				{Name: "annotations", Expression: byKind(kinds, func(k workload.Kind) string {
					// A schemaless custom object may hold annotations: null.
					a := optionalPath("object", k.MetaPath+".annotations") + ".orValue({})"
					return "(" + a + " == null ? {} : " + a + ")"
				})},
				{Name: "metaPath", Expression: byKind(kinds, func(k workload.Kind) string { return quote(k.MetaPath) })},
			},
			Validations: validations,
		},
	}
	match := bindingMatch(p, kinds, o)
	res.Binding = &admissionv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": "sealgate"}},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{action(p.Mode)},
			MatchResources:    match,
		},
	}
	return res, nil
}

// waivedBy returns the exception that waives the rule id or one of its checks, "" when none does.
// A rule's checks may carry finer IDs ("podSecurity.privileged"), which an exception may name alone.
func (o Options) waivedBy(id string, checks []rules.CELCheck) string {
	if len(o.Waived) == 0 {
		return ""
	}
	if x := o.waived(id); x != "" {
		return x
	}
	for _, c := range checks {
		if x := o.waived(c.Rule); x != "" {
			return x
		}
	}
	return ""
}

// waived looks id up, then each family it belongs to ("a.b.c", "a.b", "a").
func (o Options) waived(id string) string {
	for ; id != ""; id, _ = cutLast(id, ".") {
		if x, ok := o.Waived[id]; ok {
			return x
		}
	}
	return ""
}

func cutLast(s, sep string) (string, bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], true
	}
	return "", false
}

// action maps the policy's mode to the binding's validation action.
func action(m v1alpha1.Mode) admissionv1.ValidationAction {
	switch m {
	case v1alpha1.ModeWarn:
		return admissionv1.Warn
	case v1alpha1.ModeAudit:
		return admissionv1.Audit
	}
	return admissionv1.Deny
}

// matchedKinds returns the pod-bearing kinds the policy matches: spec.match.kinds, or all, which
// are the core kinds and the built-in custom kinds (the webhook's default table; spec.match.kinds
// cannot name a custom kind).
func matchedKinds(p *policy.Policy) ([]workload.Kind, error) {
	if p.Kinds == nil {
		out := slices.Clone(workload.Kinds)
		for _, k := range workload.BuiltinCustomKinds {
			out = append(out, workload.Kind{GVK: k.GVK, Resource: k.Resource, SpecPath: k.SpecPath, MetaPath: k.MetaPath})
		}
		return out, nil
	}
	var out []workload.Kind
	for _, k := range workload.Kinds {
		if slices.Contains(p.Kinds, k.GVK.GroupKind()) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("policy %q: spec.match.kinds names no kind a ValidatingAdmissionPolicy can match", p.Name)
	}
	return out, nil
}

// resourceRules matches creates and updates of the kinds, and for pods the ephemeralcontainers
// subresource, through which ephemeral containers are added.
func resourceRules(kinds []workload.Kind) []admissionv1.NamedRuleWithOperations {
	var out []admissionv1.NamedRuleWithOperations
	for _, k := range kinds {
		resources := []string{k.Resource}
		if k.Resource == "pods" {
			resources = append(resources, "pods/ephemeralcontainers")
		}
		out = append(out, admissionv1.NamedRuleWithOperations{RuleWithOperations: admissionv1.RuleWithOperations{
			Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
			Rule: admissionv1.Rule{APIGroups: []string{k.GVK.Group}, APIVersions: []string{k.GVK.Version},
				Resources: resources},
		}})
	}
	return out
}

// byKind returns a CEL expression that picks expr(k) by the object's kind: a chain of
// conditionals over the distinct values, the most common last as the default. A kind whose name
// another kind of the list shares (apps and apps.kruise.io StatefulSets) is told by its group.
func byKind(kinds []workload.Kind, expr func(workload.Kind) string) string {
	named := map[string]int{}
	for _, k := range kinds {
		named[k.GVK.Kind]++
	}
	var values []string
	byValue := map[string][]string{}
	shared := map[string][]string{}
	for _, k := range kinds {
		v := expr(k)
		if _, ok := byValue[v]; !ok {
			values = append(values, v)
			byValue[v] = nil
		}
		if named[k.GVK.Kind] > 1 {
			shared[v] = append(shared[v], "object.kind == "+quote(k.GVK.Kind)+" && object.apiVersion.startsWith("+quote(apiVersionPrefix(k))+")")
			continue
		}
		byValue[v] = append(byValue[v], quote(k.GVK.Kind))
	}
	// The value most kinds share is the default, so the chain tests the fewest kinds.
	count := func(v string) int { return len(byValue[v]) + len(shared[v]) }
	slices.SortStableFunc(values, func(a, b string) int { return count(a) - count(b) })
	out := values[len(values)-1]
	for i := len(values) - 2; i >= 0; i-- {
		v := values[i]
		var conds []string
		if len(byValue[v]) > 0 {
			conds = append(conds, "object.kind in ["+strings.Join(byValue[v], ", ")+"]")
		}
		for _, c := range shared[v] {
			conds = append(conds, "("+c+")")
		}
		out = strings.Join(conds, " || ") + " ? " + v + " : " + out
	}
	return out
}

// changesPodSpec is the match condition that leaves out the UPDATEs the webhook admits unchecked
// (admission.Unchanged): those that leave the pod spec and the pod template's annotations as they
// were, so that relabelling, scaling or removing a finalizer never wedges an object that predates
// the policy. CEL compares the stored JSON, which is at least as fine as the webhook's semantic
// comparison (1000m and 1, or [] and no list, differ here): the VAP checks every UPDATE the webhook
// checks, and a few more.
func changesPodSpec(kinds []workload.Kind) string {
	// The conditional that picks the kind binds loosest, hence the parentheses around it.
	return "request.operation != 'UPDATE' || oldObject == null || (" + byKind(kinds, func(k workload.Kind) string {
		return "(" + optionalPath("object", k.SpecPath) + " != " + optionalPath("oldObject", k.SpecPath) + " || " +
			optionalPath("object", k.MetaPath+".annotations") + " != " + optionalPath("oldObject", k.MetaPath+".annotations") + ")"
	}) + ")"
}

// optionalPath is the CEL of a dotted field path under root as an optional, absent when any step is.
func optionalPath(root, path string) string {
	return root + ".?" + strings.ReplaceAll(path, ".", ".?")
}

// apiVersionPrefix is how the object's apiVersion starts for the kind's group: "apps/", or "v1"
// for the core group.
func apiVersionPrefix(k workload.Kind) string {
	if k.GVK.Group == "" {
		return k.GVK.Version
	}
	return k.GVK.Group + "/"
}

// bindingMatch is the binding's matchResources: the policy's namespace selector with its excluded
// namespaces added as a NotIn on the name label the API server sets, its object selector, and
// the kinds.
func bindingMatch(p *policy.Policy, kinds []workload.Kind, o Options) *admissionv1.MatchResources {
	m := p.Source.Spec.Match
	ns := &metav1.LabelSelector{}
	if m.NamespaceSelector != nil {
		ns = m.NamespaceSelector.DeepCopy()
	}
	if len(m.ExcludeNamespaces) > 0 {
		ns.MatchExpressions = append(ns.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: slices.Clone(m.ExcludeNamespaces)})
	}
	webhookNS := o.WebhookNamespaceSelector
	if webhookNS == nil {
		webhookNS = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system"}}}}
	}
	and(ns, webhookNS)
	obj := &metav1.LabelSelector{}
	if m.ObjectSelector != nil {
		obj = m.ObjectSelector.DeepCopy()
	}
	and(obj, o.WebhookObjectSelector)
	return &admissionv1.MatchResources{NamespaceSelector: ns, ObjectSelector: obj, ResourceRules: resourceRules(kinds)}
}

// and adds the requirements of other to s, which then matches what both match: a matchLabels key
// both set to different values becomes a second requirement, which nothing matches.
func and(s, other *metav1.LabelSelector) {
	if other == nil {
		return
	}
	for k, v := range other.MatchLabels {
		if old, ok := s.MatchLabels[k]; ok && old != v {
			s.MatchExpressions = append(s.MatchExpressions, metav1.LabelSelectorRequirement{Key: k, Operator: metav1.LabelSelectorOpIn, Values: []string{v}})
			continue
		}
		if s.MatchLabels == nil {
			s.MatchLabels = map[string]string{}
		}
		s.MatchLabels[k] = v
	}
	for _, r := range other.MatchExpressions {
		s.MatchExpressions = append(s.MatchExpressions, *r.DeepCopy())
	}
}

// quote returns s as a CEL string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
