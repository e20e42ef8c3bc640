package engine_test

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

// vapPolicy forbids privileged containers and requires a read-only root filesystem; its generated
// VAP enforces containers.privileged exactly (SkipRules, as the cluster sets it from status.fallback).
func vapPolicy(t *testing.T) *policy.Policy {
	p := compile(t, "vap", v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce, Containers: &v1alpha1.ContainerRules{
		Privileged: v1alpha1.Forbidden, ReadOnlyRootFilesystem: v1alpha1.Required}})
	p.SkipRules = map[string]bool{"containers.privileged": true}
	return p
}

// ruleIDs lists every rule ID the result names, listed or omitted.
func ruleIDs(res *engine.Result) []string {
	var out []string
	for _, v := range res.Violations {
		v.Rules(func(r string) { out = append(out, r) })
	}
	for _, o := range res.Omitted {
		out = append(out, o.Rule)
	}
	return out
}

// TestSkipVAPRules: on the admission path (SkipVAPRules) a rule the VAP enforces exactly is not
// evaluated, so it reports nothing; every other rule still is. Without the flag (audit, check) the
// same policy reports both.
func TestSkipVAPRules(t *testing.T) {
	p := vapPolicy(t)
	// Container a is privileged and no container has a read-only root filesystem: both rules fire.
	w := deployment()
	priv := true
	w.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &priv}
	for _, tc := range []struct {
		name    string
		skip    bool
		want    []string
		notWant []string
	}{
		{"admission", true, []string{"containers.readOnlyRootFilesystem"}, []string{"containers.privileged"}},
		{"audit and check", false, []string{"containers.readOnlyRootFilesystem", "containers.privileged"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &engine.Engine{Rules: rules.Default(), SkipVAPRules: tc.skip}
			got := ruleIDs(e.Evaluate(context.Background(), []*policy.Policy{p}, w, "prod"))
			for _, r := range tc.want {
				if !slices.Contains(got, r) {
					t.Errorf("rule %s reports nothing; got %v", r, got)
				}
			}
			for _, r := range tc.notWant {
				if slices.Contains(got, r) {
					t.Errorf("rule %s, which the VAP enforces exactly, was evaluated: %v", r, got)
				}
			}
		})
	}
}
