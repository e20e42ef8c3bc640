package engine_test

import (
	"context"
	"testing"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

// fakeConfigs answers every image with one config and records what it was asked.
type fakeConfigs struct{ asked []string }

func (f *fakeConfigs) Config(_ context.Context, _ *rules.Target, im *rules.Image) (*rules.ImageConfig, error) {
	f.asked = append(f.asked, im.Raw)
	return &rules.ImageConfig{Configs: []rules.PlatformConfig{{User: "1000"}}}, nil
}

// configRule asks for the config of every image and reports what it got.
func configRule() rules.Rule {
	return rules.Rule{ID: "test.imageConfig", Name: "asks", Check: func(_ *policy.Policy, t *rules.Target, out *rules.Findings) {
		for i := range t.Images() {
			im := &t.Images()[i]
			cfg, err := t.ImageConfig(im)
			msg := "error: "
			if err != nil {
				msg += err.Error()
			} else {
				msg = "user " + cfg.Configs[0].User
			}
			out.Add(rules.Finding{Path: im.Path(), Container: im.OwnerName(), Message: msg})
		}
	}}
}

func TestImageConfigsReadOncePerRequest(t *testing.T) {
	reg, err := rules.NewRegistry(configRule())
	if err != nil {
		t.Fatal(err)
	}
	spec := v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce}
	ps := []*policy.Policy{compile(t, "one", spec), compile(t, "two", spec)}

	f := &fakeConfigs{}
	e := &engine.Engine{Rules: reg, ImageConfigs: f}
	res := e.Evaluate(t.Context(), ps, deployment(), "prod")
	if len(f.asked) != 2 {
		t.Errorf("reader asked %v, want each of the 2 images once for 2 policies", f.asked)
	}
	if len(res.Violations) != 4 || res.Violations[0].Message != "user 1000" {
		t.Errorf("violations = %v", res.Violations)
	}
	// The next request asks again: what a tag points to may change between requests.
	e.Evaluate(t.Context(), ps, deployment(), "prod")
	if len(f.asked) != 4 {
		t.Errorf("reader asked %d times over two requests, want 4", len(f.asked))
	}

	for _, tc := range []struct {
		name string
		e    *engine.Engine
		want error
	}{
		{"no reader", &engine.Engine{Rules: reg}, rules.ErrNoImageConfigReader},
		{"skipped", &engine.Engine{Rules: reg, ImageConfigs: f, SkipImageConfig: true}, rules.ErrImageConfigSkipped},
	} {
		before := len(f.asked)
		res := tc.e.Evaluate(t.Context(), ps[:1], deployment(), "prod")
		if len(res.Violations) != 2 || res.Violations[0].Message != "error: "+tc.want.Error() {
			t.Errorf("%s: violations = %v, want the error %q", tc.name, res.Violations, tc.want)
		}
		if len(f.asked) != before {
			t.Errorf("%s: the reader was asked", tc.name)
		}
	}
}
