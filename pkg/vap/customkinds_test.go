package vap_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/rules/fixture"
	"github.com/sealgate/sealgate/pkg/vap"
	"github.com/sealgate/sealgate/pkg/workload"
)

// TestCustomKindsAgree wraps every Pod of the rule fixtures in each built-in custom kind (its pod
// spec at the kind's spec path, its labels at the kind's metadata path) and compares the engine's
// verdicts, as the webhook decodes the kind, with the generated policy's: exact rules agree,
// conservative ones never admit what the engine denies. The objects are unstructured, as the API
// server hands a custom object to CEL, so their quantities keep the units they were written in.
// An operator's kind also gets a container named as one its operator generates, which the webhook
// does not judge, holding everything the rules forbid.
func TestCustomKindsAgree(t *testing.T) {
	files, err := fixture.LoadDir("../rules/testdata")
	if err != nil {
		t.Fatal(err)
	}
	eng := &engine.Engine{Rules: rules.Default(), SkipSignatures: true}
	kinds := workload.NewCustomKinds()
	var tl tally
	for _, f := range files {
		for _, c := range f.Cases {
			gvk, err := c.GVK()
			if err != nil {
				t.Fatal(err)
			}
			if len(c.ImageConfigs) > 0 || gvk.Kind != "Pod" || c.Policy.Match.Kinds != nil {
				continue
			}
			p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: c.Policy})
			if err != nil {
				t.Fatalf("%s/%s: policy: %v", f.Rule, c.Name, err)
			}
			res, err := vap.Compile(p)
			if err != nil {
				t.Fatal(err)
			}
			if res.Policy == nil {
				continue
			}
			v := newValidator(t, res.Policy)
			for _, k := range workload.BuiltinCustomKinds {
				name := f.Rule + "/" + c.Name + "/" + k.GVK.Kind
				if !slices.ContainsFunc(res.Policy.Spec.MatchConstraints.ResourceRules, func(r admissionv1.NamedRuleWithOperations) bool {
					return slices.Contains(r.APIGroups, k.GVK.Group) && slices.Contains(r.APIVersions, k.GVK.Version) && slices.Contains(r.Resources, k.Resource)
				}) {
					t.Fatalf("%s: the policy matches every kind, but its resource rules do not cover %s", name, k.GVK)
				}
				js := wrapPod(t, c.Object, k)
				w, err := kinds.Decode(k.GVK, js)
				if err != nil {
					t.Fatalf("%s: decoding: %v", name, err)
				}
				obj := &unstructured.Unstructured{}
				if err := obj.UnmarshalJSON(js); err != nil {
					t.Fatal(err)
				}
				compareDecoded(t, eng, name, p, res, v, w, obj, "default", &tl)
			}
		}
	}
	tl.report(t, "the Pod fixtures in every built-in custom kind")
}

// wrapPod puts a Pod's spec and labels where kind k carries them, and for an operator's kind
// appends a patch of a generated container that breaks every container rule.
func wrapPod(t *testing.T, pod []byte, k workload.CustomKind) []byte {
	t.Helper()
	var in struct {
		Metadata map[string]any `json:"metadata"`
		Spec     map[string]any `json:"spec"`
	}
	if err := json.Unmarshal(pod, &in); err != nil {
		t.Fatal(err)
	}
	if len(k.Generated) > 0 {
		cs, _ := in.Spec["containers"].([]any)
		in.Spec["containers"] = append(cs, map[string]any{"name": k.Generated[0],
			"ports":     []any{map[string]any{"containerPort": 1, "hostPort": 1}},
			"resources": map[string]any{"limits": map[string]any{"cpu": "0", "memory": "1Ei"}, "requests": map[string]any{"cpu": "1m"}},
			"securityContext": map[string]any{"privileged": true, "runAsUser": 0, "allowPrivilegeEscalation": true,
				"capabilities":   map[string]any{"add": []any{"SYS_ADMIN"}},
				"seccompProfile": map[string]any{"type": "Localhost", "localhostProfile": "../x"}}})
	}
	obj := map[string]any{"apiVersion": k.GVK.GroupVersion().String(), "kind": k.GVK.Kind,
		"metadata": map[string]any{"name": in.Metadata["name"], "namespace": "default"}}
	set(obj, k.SpecPath, in.Spec)
	if k.MetaPath != "" && k.MetaPath != "metadata" {
		set(obj, k.MetaPath, map[string]any{"labels": in.Metadata["labels"], "annotations": in.Metadata["annotations"]})
	}
	js, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// set puts v at a dotted path of obj, making the maps on the way.
func set(obj map[string]any, path string, v any) {
	fields := strings.Split(path, ".")
	for _, f := range fields[:len(fields)-1] {
		next, ok := obj[f].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[f] = next
		}
		obj = next
	}
	obj[fields[len(fields)-1]] = v
}

// TestCustomKindWithoutPodSpec: an Argo Rollout with spec.workloadRef has no pod spec, and the
// webhook admits it (its Deployment is checked on its own); the policy's match condition skips it,
// though a rule that requires a field would deny an empty spec.
func TestCustomKindWithoutPodSpec(t *testing.T) {
	res := compile(t, v1alpha1.PolicySpec{Containers: &v1alpha1.ContainerRules{AutomountServiceAccountToken: v1alpha1.Forbidden}})
	v := newValidator(t, res.Policy)
	for _, tc := range []struct {
		name, object string
		decisions    int
	}{
		{"workloadRef", `{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"},
			"spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}}`, 0},
		{"template", `{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"},
			"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a"}]}}}}`, 1},
	} {
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON([]byte(tc.object)); err != nil {
			t.Fatal(err)
		}
		d := validate(t, v, obj, "default")
		if len(d) != tc.decisions || len(d) == 1 && d[0].Evaluation != validating.EvalDeny {
			t.Errorf("%s: decisions %+v, want %d (a denial)", tc.name, d, tc.decisions)
		}
	}
}
