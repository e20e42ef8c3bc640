package vap_test

import (
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/manifest"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/vap"
	"github.com/sealgate/sealgate/pkg/workload"
)

// TestExamplesAgree compares the engine and the generated VAP, rule by rule, on every example
// workload under the rules of every example policy (each renamed "p", as the message check
// expects), as TestFixturesAgree does for the rule fixtures.
func TestExamplesAgree(t *testing.T) {
	paths, _ := filepath.Glob("../../examples/policies/*.yaml")
	ps, err := policy.LoadPaths(paths, nil)
	if err != nil || len(ps) == 0 {
		t.Fatalf("example policies: %d, %v", len(ps), err)
	}
	docs, _, err := manifest.ReadPaths([]string{"../../examples/workloads"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng := &engine.Engine{Rules: rules.Default(), SkipSignatures: true}
	var tl tally
	objects := 0
	for _, d := range docs {
		gvk := schema.FromAPIVersionAndKind(d.APIVersion, d.Kind)
		if _, ok := workload.Lookup(gvk); !ok {
			continue // namespaces
		}
		objects++
		for _, example := range ps {
			// The rules are compared, not the match: the binding's selectors are the API server's to
			// apply (TestMatch), and the engine reads namespace labels this test has no cluster for.
			spec := *example.Source.Spec.DeepCopy()
			spec.Match = v1alpha1.Match{Kinds: spec.Match.Kinds}
			p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: spec})
			if err != nil {
				t.Fatal(err)
			}
			res, err := vap.Compile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !p.MatchesKind(gvk) {
				continue
			}
			compareVerdicts(t, eng, example.Name+"/"+d.Source, p, res, gvk, d.JSON, "default", &tl)
		}
	}
	if objects == 0 {
		t.Fatal("no example workload read")
	}
	tl.report(t, "the examples")
}
