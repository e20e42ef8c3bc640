package engine_test

import (
	"context"
	stdjson "encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/manifest"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/rules/fixture"
	"github.com/sealgate/sealgate/pkg/workload"
)

// TestSkippedFieldsAreUnread evaluates every rule over objects decoded two ways: by workload.Decode,
// which skips the fields no rule reads, and in full by the API machinery's decoder. The findings
// must be the same; a rule that starts reading a skipped field fails here until skip.go stops
// skipping it.
func TestSkippedFieldsAreUnread(t *testing.T) {
	pols := allRulesPolicies(t)
	eng := &engine.Engine{Rules: rules.Default()}
	docs := corpusDocuments(t)
	if len(docs) < 10 {
		t.Fatalf("corpus has only %d objects", len(docs))
	}
	for _, d := range docs {
		gv, err := schema.ParseGroupVersion(d.APIVersion)
		if err != nil {
			t.Fatal(err)
		}
		gvk := gv.WithKind(d.Kind)
		if _, ok := workload.Lookup(gvk); !ok {
			continue
		}
		fast, err := workload.Decode(gvk, d.JSON)
		if err != nil {
			t.Fatalf("%s: %v", d.Where(), err)
		}
		full := fullDecode(t, gvk, d.JSON)
		ctx := context.Background()
		got := eng.Evaluate(ctx, pols, fast, "default").Violations
		want := eng.Evaluate(ctx, pols, full, "default").Violations
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: findings differ when skipped fields are not decoded (-full +skipping):\n%s", d.Where(), diff)
		}
	}
}

// allRulesPolicies is a policy set that enables every rule: the policy of every case of the rule
// fixtures (pkg/rules/testdata), which every registered rule has (pkg/rules
// TestEveryRuleHasFixtures), so that a new rule is covered by its fixtures with no edit here. It
// fails when a registered rule is enabled by none of them.
func allRulesPolicies(t *testing.T) []*policy.Policy {
	t.Helper()
	var out []*policy.Policy
	files, err := fixture.LoadDir(filepath.Join("..", "rules", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		for i, c := range f.Cases {
			p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", strings.ReplaceAll(strings.ToLower(f.Rule), ".", "-"), i)},
				Spec:       c.Policy})
			if err != nil {
				t.Fatalf("%s: case %q: %v", f.Path, c.Name, err)
			}
			out = append(out, p)
		}
	}
	eng := &engine.Engine{Rules: rules.Default()}
	for _, r := range eng.Rules.Rules() {
		if !slices.ContainsFunc(out, func(p *policy.Policy) bool { return rules.Enables(p, &r) }) {
			t.Errorf("no policy of the set enables rule %q: add fixtures for it in pkg/rules/testdata", r.ID)
		}
	}
	return out
}

// corpusDocuments gathers objects from the examples, the decoder's odd-content corpus and the
// benchmark reviews (their embedded objects).
func corpusDocuments(t *testing.T) []manifest.Document {
	t.Helper()
	docs, _, err := manifest.ReadPaths([]string{"../../examples/workloads"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The decoder corpus is JSON with content YAML would not read (invalid UTF-8): read it as is.
	odd, _ := filepath.Glob("../workload/testdata/*.json")
	for _, f := range odd {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var h metav1.TypeMeta
		if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &h); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, manifest.Document{Source: f, Index: 1, APIVersion: h.APIVersion, Kind: h.Kind, JSON: data})
	}
	reviews, _ := filepath.Glob("../admission/testdata/review-*.json")
	for _, f := range reviews {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rv struct {
			Request struct {
				Object    map[string]any `json:"object"`
				OldObject map[string]any `json:"oldObject"`
			} `json:"request"`
		}
		if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &rv); err != nil {
			t.Fatal(err)
		}
		d, _, err := manifest.Read(f, strings.NewReader(mustJSON(t, rv.Request.Object)))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d...)
	}
	return docs
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := jsonMarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fullDecode reads the whole typed object with the API machinery's decoder.
func fullDecode(t *testing.T, gvk schema.GroupVersionKind, data []byte) *workload.Workload {
	t.Helper()
	k, _ := workload.Lookup(gvk)
	w := &workload.Workload{GVK: gvk, SpecPath: k.SpecPath, MetaPath: k.MetaPath}
	dec := func(v any) {
		if err := kjson.UnmarshalCaseSensitivePreserveInts(data, v); err != nil {
			t.Fatalf("%s: %v", gvk.Kind, err)
		}
	}
	tmpl := func(obj *metav1.ObjectMeta, pt *corev1.PodTemplateSpec) {
		w.Object, w.Template, w.Spec = obj, &pt.ObjectMeta, &pt.Spec
	}
	switch gvk.Kind {
	case "Pod":
		var o corev1.Pod
		dec(&o)
		w.Object, w.Template, w.Spec = &o.ObjectMeta, &o.ObjectMeta, &o.Spec
	case "PodTemplate":
		var o corev1.PodTemplate
		dec(&o)
		tmpl(&o.ObjectMeta, &o.Template)
	case "ReplicationController":
		var o corev1.ReplicationController
		dec(&o)
		if o.Spec.Template == nil {
			o.Spec.Template = &corev1.PodTemplateSpec{}
		}
		tmpl(&o.ObjectMeta, o.Spec.Template)
	case "Deployment":
		var o appsv1.Deployment
		dec(&o)
		tmpl(&o.ObjectMeta, &o.Spec.Template)
	case "ReplicaSet":
		var o appsv1.ReplicaSet
		dec(&o)
		tmpl(&o.ObjectMeta, &o.Spec.Template)
	case "StatefulSet":
		var o appsv1.StatefulSet
		dec(&o)
		tmpl(&o.ObjectMeta, &o.Spec.Template)
	case "DaemonSet":
		var o appsv1.DaemonSet
		dec(&o)
		tmpl(&o.ObjectMeta, &o.Spec.Template)
	case "Job":
		var o batchv1.Job
		dec(&o)
		tmpl(&o.ObjectMeta, &o.Spec.Template)
	case "CronJob":
		var o batchv1.CronJob
		dec(&o)
		tmpl(&o.ObjectMeta, &o.Spec.JobTemplate.Spec.Template)
	default:
		t.Fatalf("no full decoder for %v", gvk)
	}
	return w
}

var jsonMarshal = func(v any) ([]byte, error) { return stdjson.Marshal(v) }
