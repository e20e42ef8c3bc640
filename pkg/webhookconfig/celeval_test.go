package webhookconfig_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"

	"github.com/sealgate/sealgate/pkg/workload"
)

// The tests evaluate generated conditions as the API server's webhook dispatcher does
// (plugin/webhook/accessors.go): the condition compiler over this API server version's base
// environment, the conditions as stored expressions, with an authorizer declared, and the
// dispatcher's own matcher under failurePolicy Fail, so that an evaluation error shows as one.

var matchers sync.Map // joined expressions -> matchconditions.Matcher

func newMatcher(t testing.TB, conds []admissionregistrationv1.MatchCondition) matchconditions.Matcher {
	t.Helper()
	var key strings.Builder
	for _, c := range conds {
		key.WriteString(c.Name + "\x00" + c.Expression + "\x00")
	}
	if m, ok := matchers.Load(key.String()); ok {
		return m.(matchconditions.Matcher)
	}
	exprs := make([]plugincel.ExpressionAccessor, len(conds))
	for i, c := range conds {
		exprs[i] = &matchconditions.MatchCondition{Name: c.Name, Expression: c.Expression}
	}
	compiler := plugincel.NewConditionCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	eval := compiler.CompileCondition(exprs, plugincel.OptionalVariableDeclarations{HasAuthorizer: true}, environment.StoredExpressions)
	if errs := eval.CompilationErrors(); len(errs) > 0 {
		t.Fatalf("compiling the conditions: %v\n%v", errs, conds)
	}
	m := matchconditions.NewMatcher(eval, ptr.To(admissionregistrationv1.Fail), "webhook", "validating", "workloads.sealgate.dev")
	matchers.Store(key.String(), m)
	return m
}

// apiRequest is one request as the API server holds it before it asks the webhook: the objects in
// their Go types (unstructured for custom kinds), and the AdmissionRequest the webhook receives.
type apiRequest struct {
	name        string
	gvk         schema.GroupVersionKind
	resource    string
	subresource string
	namespace   string
	op          admissionv1.Operation
	obj, old    []byte // JSON
}

// apiObject decodes an object as the API server holds it: into its Go type when the scheme knows
// the kind, which drops what the type has no field for; unstructured otherwise.
func apiObject(t testing.TB, js []byte) runtime.Object {
	t.Helper()
	if js == nil {
		return nil
	}
	obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(js, nil, nil)
	if err != nil {
		if !runtime.IsNotRegisteredError(err) {
			t.Fatalf("decoding object: %v", err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			t.Fatalf("decoding object: %v", err)
		}
		return u
	}
	obj.GetObjectKind().SetGroupVersionKind(*gvk)
	return obj
}

// wire is the JSON the API server sends of an object it holds.
func wire(t testing.TB, obj runtime.Object) []byte {
	t.Helper()
	if obj == nil {
		return nil
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// match evaluates the conditions on r as the dispatcher does; it fails the test on an error.
// It returns whether the webhook is called and, when not, the condition that said no.
func match(t testing.TB, m matchconditions.Matcher, r apiRequest) (bool, string) {
	t.Helper()
	obj, old := apiObject(t, r.obj), apiObject(t, r.old)
	gvr := r.gvk.GroupVersion().WithResource(r.resource)
	attr := admission.NewAttributesRecord(obj, old, r.gvk, r.namespace, "x", gvr, r.subresource,
		admission.Operation(r.op), nil, false, nil)
	va := &admission.VersionedAttributes{Attributes: attr, VersionedKind: r.gvk,
		VersionedObject: admission.NewLazyObject(obj), VersionedOldObject: admission.NewLazyObject(old)}
	res := m.Match(context.Background(), va, nil, nil)
	if res.Error != nil {
		t.Fatalf("%s: the conditions failed to evaluate: %v", r.name, res.Error)
	}
	return res.Matches, res.FailedConditionName
}

// review is the AdmissionRequest the webhook receives for r, with the objects as the API server
// serializes them.
func review(t testing.TB, r apiRequest) *admissionv1.AdmissionRequest {
	t.Helper()
	req := &admissionv1.AdmissionRequest{UID: "u", Namespace: r.namespace, Name: "x", Operation: r.op, SubResource: r.subresource}
	req.Kind.Group, req.Kind.Version, req.Kind.Kind = r.gvk.Group, r.gvk.Version, r.gvk.Kind
	req.Object.Raw = wire(t, apiObject(t, r.obj))
	req.OldObject.Raw = wire(t, apiObject(t, r.old))
	return req
}

// resourceOf is the plural resource of a kind the webhook rules list.
func resourceOf(gvk schema.GroupVersionKind) string {
	if k, ok := workload.Lookup(gvk); ok {
		return k.Resource
	}
	if k, ok := workload.NewCustomKinds().Lookup(gvk); ok {
		return k.Resource
	}
	return strings.ToLower(gvk.Kind) + "s"
}
