package vap_test

import (
	"context"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/client-go/kubernetes/scheme"
)

// The tests evaluate a generated policy as the API server's ValidatingAdmissionPolicy plugin does:
// compilePolicy (plugin/policy/validating) is unexported, so newValidator repeats its few lines —
// the composited compiler over this API server version's base environment, the policy's variables,
// its validations and message expressions as stored expressions — and Validate is the plugin's own.

func newValidator(t testing.TB, p *admissionv1.ValidatingAdmissionPolicy) validating.Validator {
	t.Helper()
	c, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		t.Fatal(err)
	}
	vars := make([]plugincel.NamedExpressionAccessor, len(p.Spec.Variables))
	for i, v := range p.Spec.Variables {
		vars[i] = &validating.Variable{Name: v.Name, Expression: v.Expression}
	}
	opts := plugincel.OptionalVariableDeclarations{HasAuthorizer: true}
	c.CompileAndStoreVariables(vars, opts, environment.StoredExpressions)
	exprs := make([]plugincel.ExpressionAccessor, len(p.Spec.Validations))
	msgs := make([]plugincel.ExpressionAccessor, len(p.Spec.Validations))
	for i, v := range p.Spec.Validations {
		exprs[i] = &validating.ValidationCondition{Expression: v.Expression, Message: v.Message}
		msgs[i] = &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}
	}
	val := validating.NewValidator(
		c.CompileCondition(exprs, opts, environment.StoredExpressions), nil,
		c.CompileCondition(nil, opts, environment.StoredExpressions),
		c.CompileCondition(msgs, plugincel.OptionalVariableDeclarations{}, environment.StoredExpressions),
		p.Spec.FailurePolicy, nil)
	if err := val.CompileError(); err != nil {
		t.Fatalf("compiling %s: %v", p.Name, err)
	}
	return val
}

// apiObject decodes an object as the API server does before admission: into its Go type, which
// drops what the type has no field for and reads numbers as quantities. The plugin converts it to
// what CEL reads itself (admission.LazyObject).
func apiObject(t testing.TB, js []byte) runtime.Object {
	t.Helper()
	obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(js, nil, nil)
	if err != nil {
		t.Fatalf("decoding object: %v", err)
	}
	obj.GetObjectKind().SetGroupVersionKind(*gvk)
	return obj
}

// validate returns the plugin's decision for each validation of the policy on obj, created in ns.
func validate(t testing.TB, v validating.Validator, obj runtime.Object, ns string) []validating.PolicyDecision {
	t.Helper()
	return validateWithBudget(t, v, obj, ns, celconfig.RuntimeCELCostBudget)
}

// validateWithBudget is validate with a cost budget other than the API server's.
func validateWithBudget(t testing.TB, v validating.Validator, obj runtime.Object, ns string, budget int64) []validating.PolicyDecision {
	t.Helper()
	gvk := obj.GetObjectKind().GroupVersionKind()
	name := ""
	if m, err := meta.Accessor(obj); err == nil {
		name = m.GetName()
	}
	gvr := schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version}
	attr := admission.NewAttributesRecord(obj, nil, gvk, ns, name, gvr, "", admission.Create, &metav1.CreateOptions{}, false, nil)
	va := &admission.VersionedAttributes{Attributes: attr, VersionedKind: gvk, VersionedObject: admission.NewLazyObject(obj)}
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	res := v.Validate(context.Background(), gvr, va, nil, namespace, budget, nil)
	return res.Decisions
}
