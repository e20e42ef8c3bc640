package rules_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/rules/fixture"
	"github.com/sealgate/sealgate/pkg/workload"
)

// TestRuleFixtures runs every case of testdata/<rule ID>.yaml through the decoder the webhook uses
// and the engine, with only the case's policy, and compares the rule's violations (path and message)
// with the case's. Each file needs a case the rule passes and one it fails.
func TestRuleFixtures(t *testing.T) {
	files, err := fixture.LoadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range rules.Default().Rules() {
		ids[r.ID] = true
	}
	eng := &engine.Engine{Rules: rules.Default(), SkipSignatures: true}
	for _, f := range files {
		t.Run(f.Rule, func(t *testing.T) {
			if !ids[f.Rule] {
				t.Fatalf("%s: no rule %q is registered", f.Path, f.Rule)
			}
			var passes, fails int
			for _, c := range f.Cases {
				if len(c.Want) == 0 {
					passes++
				} else {
					fails++
				}
				t.Run(c.Name, func(t *testing.T) {
					got := evaluate(t, eng, &c, f.Rule)
					var want []fixture.Finding
					for _, w := range c.Want {
						if w.Rule == "" {
							w.Rule = f.Rule
						}
						want = append(want, w)
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("%s violations (-want +got):\n%s", f.Rule, diff)
					}
				})
			}
			for _, inv := range f.Invalid {
				t.Run("invalid/"+inv.Name, func(t *testing.T) {
					_, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: inv.Policy})
					var ie *policy.InvalidError
					if !errors.As(err, &ie) {
						t.Fatalf("Compile = %v, want the field errors %q", err, inv.Errors)
					}
					var got []string
					for _, e := range ie.Errs {
						got = append(got, e.Error())
					}
					if diff := cmp.Diff(inv.Errors, got); diff != "" {
						t.Errorf("field errors (-want +got):\n%s", diff)
					}
				})
			}
			if passes == 0 || fails == 0 {
				t.Errorf("%s: %d passing and %d failing cases; a rule's fixtures need both", f.Path, passes, fails)
			}
		})
	}
}

// TestEveryRuleHasFixtures: a registered rule is tested, and counted as enabled by the policy set
// other tests build from the fixtures (the engine's skipped-fields test), only through its
// testdata/<rule ID>.yaml, so a rule without one fails here rather than going unexercised.
func TestEveryRuleHasFixtures(t *testing.T) {
	files, err := fixture.LoadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range files {
		have[f.Rule] = true
	}
	for _, r := range rules.Default().Rules() {
		if !have[r.ID] {
			t.Errorf("rule %q has no fixtures: add testdata/%s.yaml with a case it passes and one it fails", r.ID, r.ID)
		}
	}
}

// TestPassingFixturesDoNotAllocate: every rule runs on every admission, so on each passing case of
// its fixtures a rule's check allocates nothing. podSecurity is held to upstream's evaluator instead
// (TestPodSecurityTagAllocatesNothing).
func TestPassingFixturesDoNotAllocate(t *testing.T) {
	if rules.RaceEnabled {
		t.Skip("allocation counts are meaningless under -race: sync.Pool drops items at random; `go test ./pkg/rules/` runs this")
	}
	files, err := fixture.LoadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]rules.Rule{}
	for _, r := range rules.Default().Rules() {
		byID[r.ID] = r
	}
	for _, f := range files {
		r, ok := byID[f.Rule]
		if !ok || f.Rule == "podSecurity" {
			continue
		}
		for _, c := range f.Cases {
			if len(c.Want) > 0 || c.Allocates != "" {
				continue
			}
			p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: c.Policy})
			if err != nil {
				t.Fatalf("%s: %s: %v", f.Path, c.Name, err)
			}
			gvk, err := c.GVK()
			if err != nil {
				t.Fatal(err)
			}
			w, err := workload.Decode(gvk, c.Object)
			if err != nil {
				t.Fatal(err)
			}
			if !p.MatchesKind(gvk) {
				// The case passes because the policy does not apply (spec.match.kinds), not because
				// the check finds nothing.
				continue
			}
			target := rules.NewTarget(w.Template, w.Spec, w.SpecPath, w.MetaPath)
			target.Namespace, target.Policy = "default", p
			// Configs are read once per target and remembered, as in an admission.
			configs := fixtureConfigs(c.ImageConfigs)
			target.SetImageConfigs(func(im *rules.Image) (*rules.ImageConfig, error) {
				return configs.Config(context.Background(), target, im)
			})
			out := &rules.Findings{Limit: engine.MaxViolationsPerRule}
			// The first run parses the images once per target, as the engine does for every rule.
			if n := testing.AllocsPerRun(20, func() { out.Reset(); r.Check(p, target, out) }); n != 0 {
				t.Errorf("%s: %s: the passing check allocates %.0f times", f.Path, c.Name, n)
			}
		}
	}
}

// evaluate decodes the case's object as the webhook does and returns the violations of rule (or of a
// member of its family, "podSecurity.privileged").
func evaluate(t *testing.T, eng *engine.Engine, c *fixture.Case, rule string) []fixture.Finding {
	t.Helper()
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: c.Policy})
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	gvk, err := c.GVK()
	if err != nil {
		t.Fatal(err)
	}
	w, err := workload.Decode(gvk, c.Object)
	if err != nil {
		t.Fatalf("object: %v", err)
	}
	ns := c.Namespace
	if ns == "" {
		ns = "default"
	}
	e := *eng
	e.ImageConfigs = fixtureConfigs(c.ImageConfigs)
	res := e.Evaluate(context.Background(), []*policy.Policy{p}, w, ns)
	var got []fixture.Finding
	for _, v := range res.Violations {
		if v.Rule == rule || strings.HasPrefix(v.Rule, rule+".") {
			got = append(got, fixture.Finding{Path: v.Path, Message: v.Message, Rule: v.Rule})
		}
	}
	return got
}

// fixtureConfigs is the fake registry of a case's image configs.
type fixtureConfigs map[string][]fixture.ImageConfig

func (f fixtureConfigs) Config(_ context.Context, _ *rules.Target, im *rules.Image) (*rules.ImageConfig, error) {
	cs, ok := f[im.Raw]
	if !ok {
		return nil, fmt.Errorf("the fixture's registry has no image %q", im.Raw)
	}
	out := &rules.ImageConfig{Digest: "sha256:" + strings.Repeat("0", 64)}
	for _, c := range cs {
		out.Configs = append(out.Configs, rules.PlatformConfig{Platforms: c.Platforms, User: c.User, Env: c.Env})
	}
	return out, nil
}
