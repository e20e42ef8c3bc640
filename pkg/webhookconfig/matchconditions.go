package webhookconfig

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/workload"
)

// The workload webhook's matchConditions: CEL predicates the API server evaluates before it calls
// sealgate, all of which must be true for the call. They are generated from the policies in force,
// so that the API server never calls sealgate for a request whose answer is already known: allowed,
// with no warning, no audit annotation and no metric. Each condition may only skip what the webhook
// would allow untouched, whatever the policies (matchconditions_diff_test.go checks it over every
// fixture):
//
//   - with no policy in force, every request (NoPolicyCondition);
//   - a request no policy matches by namespace name (spec.match.excludeNamespaces), kind
//     (spec.match.kinds) or the object's own labels (spec.match.objectSelector), as engine.Evaluate
//     matches them. A namespaceSelector needs the namespace's labels, which a matchCondition cannot
//     see: such a policy is taken to match every namespace;
//   - an UPDATE that leaves the pod spec and the pod's annotations as they were (admission.Unchanged,
//     which the webhook answers before it reads a policy), compared as the API server sends them:
//     any difference the typed comparison would ignore still calls the webhook.
//
// A condition never errors: every field it reads is optional (`.?`), because an error would deny
// the request under failurePolicy Fail and skip the webhook under Ignore.

// Names of the generated conditions.
const (
	NoPolicyCondition      = "sealgate-no-policy-in-force"
	PolicyMatchCondition   = "sealgate-policy-may-match"
	PodChangedCondition    = "sealgate-pod-template-changed"
	maxConditionExpression = 8 << 10 // bytes; past it the condition is left out, which only calls more
)

// MatchConditions returns the workload webhook's matchConditions for the policies in force. kinds
// are the custom kinds the handler evaluates besides the core ones. The result is deterministic, so
// that a writer compares it with what the configuration holds and writes only when they differ.
//
// A policy whose every rule its synced ValidatingAdmissionPolicy enforces exactly (delegated) gives
// the webhook nothing to judge on the admission path, so it counts as not in force here: with
// spec.fallback, a policy of exact rules costs the API server no webhook call at all.
func MatchConditions(policies []*policy.Policy, kinds workload.CustomKinds) []admissionregistrationv1.MatchCondition {
	policies = slices.DeleteFunc(slices.Clone(policies), delegated)
	if len(policies) == 0 {
		// The webhook evaluates nothing and allows everything: never call it.
		return []admissionregistrationv1.MatchCondition{{Name: NoPolicyCondition, Expression: "false"}}
	}
	var out []admissionregistrationv1.MatchCondition
	if e, ok := policyMatch(policies); ok && len(e) <= maxConditionExpression {
		out = append(out, admissionregistrationv1.MatchCondition{Name: PolicyMatchCondition, Expression: e})
	}
	if e := podChanged(kinds); len(e) <= maxConditionExpression {
		out = append(out, admissionregistrationv1.MatchCondition{Name: PodChangedCondition, Expression: e})
	}
	return out
}

// delegated reports whether the webhook has nothing left to judge for p on the admission path: it
// verifies no signature, and its generated ValidatingAdmissionPolicy enforces exactly every rule it
// enables (p.SkipRules, which the engine then skips; see engine.Engine.SkipVAPRules).
func delegated(p *policy.Policy) bool {
	if len(p.SkipRules) == 0 || len(p.Signatures) > 0 {
		return false
	}
	for _, r := range rules.Default().Rules() {
		if rules.Enables(p, &r) && !p.SkipRules[r.ID] {
			return false
		}
	}
	return true
}

// policyMatch is the disjunction, over the policies, of what each can match without the namespace's
// labels. ok is false when some policy matches every request, and no condition is needed.
func policyMatch(policies []*policy.Policy) (string, bool) {
	var clauses []string
	for _, p := range policies {
		c := policyClause(p)
		if c == "" {
			return "", false
		}
		if !slices.Contains(clauses, c) {
			clauses = append(clauses, c)
		}
	}
	slices.Sort(clauses)
	return strings.Join(clauses, " || "), true
}

// policyClause is what p matches, as engine.Evaluate decides before it reads the namespace's labels;
// "" when it matches every request.
func policyClause(p *policy.Policy) string {
	var terms []string
	if len(p.ExcludeNamespaces) > 0 {
		terms = append(terms, "!(request.namespace in "+stringList(p.ExcludeNamespaces)+")")
	}
	if p.Kinds != nil {
		// MatchesKind compares group and kind; the version plays no part.
		names := make([]string, len(p.Kinds))
		for i, k := range p.Kinds {
			names[i] = k.Group + "/" + k.Kind
		}
		terms = append(terms, "(request.kind.group + '/' + request.kind.kind) in "+stringList(names))
	}
	if p.Source != nil {
		terms = append(terms, selectorTerms(p.Source.Spec.Match.ObjectSelector)...)
	}
	if len(terms) == 0 {
		return ""
	}
	return "(" + strings.Join(terms, " && ") + ")"
}

// objectLabels are the labels of the object the webhook matches an objectSelector against: the new
// object's own (workload.Workload.Object), none when it has none.
const objectLabels = "object.?metadata.?labels.orValue({})"

// selectorTerms is a label selector over objectLabels, as metav1.LabelSelectorAsSelector reads it: every
// term must hold. An operator it does not know matches nothing in the API, so it is left out: the
// condition then only calls more.
func selectorTerms(s *metav1.LabelSelector) []string {
	if s == nil {
		return nil
	}
	var terms []string
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		terms = append(terms, fmt.Sprintf("(%s in %s && %s[%s] == %s)", quote(k), objectLabels, objectLabels, quote(k), quote(s.MatchLabels[k])))
	}
	for _, r := range s.MatchExpressions {
		k := quote(r.Key)
		switch r.Operator {
		case metav1.LabelSelectorOpIn:
			terms = append(terms, fmt.Sprintf("(%s in %s && %s[%s] in %s)", k, objectLabels, objectLabels, k, stringList(r.Values)))
		case metav1.LabelSelectorOpNotIn:
			terms = append(terms, fmt.Sprintf("!(%s in %s && %s[%s] in %s)", k, objectLabels, objectLabels, k, stringList(r.Values)))
		case metav1.LabelSelectorOpExists:
			terms = append(terms, fmt.Sprintf("(%s in %s)", k, objectLabels))
		case metav1.LabelSelectorOpDoesNotExist:
			terms = append(terms, fmt.Sprintf("!(%s in %s)", k, objectLabels))
		}
	}
	return terms
}

// podChanged is true unless the request is an UPDATE of a kind the webhook decodes that leaves the
// pod spec and the pod's annotations as they were. Kinds that share the paths share one branch.
func podChanged(kinds workload.CustomKinds) string {
	type paths struct{ spec, meta string }
	var order []paths
	byPaths := map[paths][]string{}
	add := func(gvk, spec, meta string) {
		p := paths{spec, meta}
		if _, ok := byPaths[p]; !ok {
			order = append(order, p)
		}
		byPaths[p] = append(byPaths[p], gvk)
	}
	for _, k := range workload.Kinds {
		add(k.GVK.Group+"/"+k.GVK.Version+"/"+k.GVK.Kind, k.SpecPath, k.MetaPath)
	}
	for _, k := range kinds {
		if _, core := workload.Lookup(k.GVK); core {
			continue // the webhook decodes a core kind as such, whatever the custom table says
		}
		add(k.GVK.Group+"/"+k.GVK.Version+"/"+k.GVK.Kind, k.SpecPath, k.MetaPath)
	}
	var b strings.Builder
	b.WriteString("request.operation != 'UPDATE' || ")
	open := 0
	for _, p := range order {
		same, ok := samePaths(p.spec, p.meta)
		if !ok {
			continue // a path CEL cannot name: that kind is always sent
		}
		fmt.Fprintf(&b, "((request.kind.group + '/' + request.kind.version + '/' + request.kind.kind) in %s ? !(%s) : ", stringList(byPaths[p]), same)
		open++
	}
	b.WriteString("true" + strings.Repeat(")", open))
	return b.String()
}

// samePaths is true when object and oldObject hold the same value at spec and the same annotations
// at meta (none for a kind without pod metadata). A value missing from both is the same; missing
// from one and present (even empty) in the other is not, so the webhook is called.
func samePaths(spec, meta string) (string, bool) {
	s, ok1 := optionalPath(spec)
	terms := []string{fmt.Sprintf("object%s == oldObject%s", s, s)}
	if meta != "" {
		m, ok2 := optionalPath(meta + ".annotations")
		if !ok2 {
			return "", false
		}
		terms = append(terms, fmt.Sprintf("object%s == oldObject%s", m, m))
	}
	return strings.Join(terms, " && "), ok1
}

var identifier = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9]*$`)

// optionalPath is a dotted field path as CEL optional field selections ending in orValue(null):
// reading it never errors.
func optionalPath(path string) (string, bool) {
	var b strings.Builder
	for _, f := range strings.Split(path, ".") {
		if !identifier.MatchString(f) || celReserved[f] {
			return "", false
		}
		b.WriteString(".?" + f)
	}
	b.WriteString(".orValue(null)")
	return b.String(), true
}

// celReserved are CEL's reserved words, which cannot be selected as fields.
var celReserved = map[string]bool{"as": true, "break": true, "const": true, "continue": true, "else": true,
	"for": true, "function": true, "if": true, "import": true, "let": true, "loop": true, "package": true,
	"namespace": true, "return": true, "var": true, "void": true, "while": true, "in": true, "true": true,
	"false": true, "null": true}

func quote(s string) string { return strconv.Quote(s) }

func stringList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
