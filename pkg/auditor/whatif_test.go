package auditor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/rules"
)

func whatIf(t *testing.T, budget time.Duration) *WhatIf {
	t.Helper()
	return &WhatIf{Informers: started(t, fake.NewClientset(objects()...), nil), Engine: &engine.Engine{Rules: rules.Default()},
		Client: fakeAPI(t), WebhookConfig: "sealgate", Namespace: "sealgate-system", Log: logr.Discard(), Budget: budget}
}

// The what-if counts running objects by top owner, in the webhook's scope (kube-system's privileged
// pod is not counted), and words it by the policy's mode.
func TestWhatIf(t *testing.T) {
	w := whatIf(t, 0)
	const found = " 2 objects (3 pods) in 1 namespace (team: 2); by rule: containers.privileged 2"
	for _, tc := range []struct {
		mode v1alpha1.Mode
		want string
	}{
		{v1alpha1.ModeEnforce, "sealgate: among what already runs, this policy would deny" + found},
		{v1alpha1.ModeWarn, "sealgate: among what already runs, this policy would warn on" + found},
		{v1alpha1.ModeAudit, "sealgate: among what already runs, this policy would report" + found},
	} {
		got := w.Check(context.Background(), compile(t, policyObject("p", tc.mode, forbidPrivileged)))
		if diff := cmp.Diff([]string{tc.want}, got); diff != "" {
			t.Errorf("%s: warnings (-want +got):\n%s", tc.mode, diff)
		}
	}
	clean := v1alpha1.PolicySpec{Containers: &v1alpha1.ContainerRules{HostNamespaces: v1alpha1.Forbidden}}
	if got := w.Check(context.Background(), compile(t, policyObject("p", v1alpha1.ModeEnforce, clean))); got != nil {
		t.Errorf("a policy nothing running violates: warnings %q, want none", got)
	}
}

// Signatures are not verified at apply time, and the warning says so only for a policy that has
// signature rules.
func TestWhatIfSaysSignaturesAreSkipped(t *testing.T) {
	w := whatIf(t, 0)
	spec := forbidPrivileged
	spec.Signatures = []v1alpha1.SignatureRule{{Images: []string{"docker.io/**"}, Attestors: []v1alpha1.Attestor{{Name: "k",
		SecretRef: &v1alpha1.SecretKeyRef{Namespace: "sealgate-system", Name: "cosign"}}}}}
	// The engine has no verifier: had the what-if not skipped signatures, every object would have
	// failed closed with a "signatures" violation.
	got := w.Check(context.Background(), compile(t, policyObject("p", v1alpha1.ModeEnforce, spec)))
	want := []string{"sealgate: among what already runs, this policy would deny 2 objects (3 pods) in 1 namespace (team: 2); by rule: containers.privileged 2",
		"sealgate: the estimate does not check signature rules (no registry calls at apply time); the background audit and `sealgate audit` do"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	// Without signature rules, no such line (TestWhatIf).
}

// Image configs are not read at apply time either: the engine has no reader, so a what-if that read
// them would report every object's containers as failing closed under imageConfig.runAsRoot.
func TestWhatIfSaysImageConfigsAreSkipped(t *testing.T) {
	w := whatIf(t, 0)
	spec := forbidPrivileged
	spec.ImageConfig = &v1alpha1.ImageConfigRules{RunAsRoot: v1alpha1.Forbidden}
	got := w.Check(context.Background(), compile(t, policyObject("p", v1alpha1.ModeEnforce, spec)))
	want := []string{"sealgate: among what already runs, this policy would deny 2 objects (3 pods) in 1 namespace (team: 2); by rule: containers.privileged 2",
		"sealgate: the estimate does not read image configs for spec.imageConfig (no registry calls at apply time); the background audit and `sealgate audit` do"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// Out of time, it says how far it got.
func TestWhatIfStopsAtTheBudget(t *testing.T) {
	w := whatIf(t, time.Nanosecond)
	got := w.Check(context.Background(), compile(t, policyObject("p", v1alpha1.ModeEnforce, forbidPrivileged)))
	want := []string{"sealgate: the estimate stopped after 1ns having checked 0 of 7 objects; `sealgate audit --policy FILE` checks them all"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// Before the informers have their first list, there is no estimate, and it says so.
func TestWhatIfBeforeSync(t *testing.T) {
	in := fakeInformers(t, fake.NewClientset())
	w := &WhatIf{Informers: in, Engine: &engine.Engine{Rules: rules.Default()}, Log: logr.Discard()}
	got := w.Check(context.Background(), compile(t, policyObject("p", v1alpha1.ModeEnforce, forbidPrivileged)))
	if len(got) != 1 || !strings.Contains(got[0], "not synced yet") {
		t.Errorf("warnings %q", got)
	}
}
