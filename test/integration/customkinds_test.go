//go:build integration

package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// rolloutCRD is a minimal CRD for Argo Rollouts' Rollout: the spec is kept as written, which is
// all the webhook needs to see its pod template.
const rolloutCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: rollouts.argoproj.io}
spec:
  group: argoproj.io
  scope: Namespaced
  names: {kind: Rollout, listKind: RolloutList, plural: rollouts, singular: rollout}
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

func rollout(ns, name, containerExtra string) string {
	if containerExtra != "" {
		containerExtra = ", " + containerExtra
	}
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: %s, namespace: %s}
spec:
  replicas: 2
  selector: {matchLabels: {app: %[1]s}}
  strategy: {canary: {steps: [{setWeight: 20}]}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec: {containers: [{name: c, image: "busybox:1.37"%[3]s}]}
`, name, ns, containerExtra)
}

// The webhook configuration lists the built-in custom kinds whether or not their CRDs exist. The API
// server accepted it (the harness registered it before any CRD was installed), and the rule for
// rollouts starts matching once the CRD is installed, with nothing re-registered: a privileged
// Rollout is then denied by sealgate at its pod template's path.
func TestCustomKindRegisteredBeforeItsCRD(t *testing.T) {
	ctx := t.Context()
	vwc := webhookconfig.Empty()
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "sealgate"}, vwc); err != nil {
		t.Fatal(err)
	}
	registered := false
	for _, w := range vwc.Webhooks {
		for _, r := range w.Rules {
			registered = registered || w.Name == webhookconfig.WorkloadWebhook &&
				slices.Contains(r.APIGroups, "argoproj.io") && slices.Contains(r.Resources, "rollouts")
		}
	}
	if !registered {
		t.Fatalf("the webhook configuration in the cluster has no rule for argoproj.io rollouts: %+v", vwc.Webhooks)
	}
	// The rule was accepted while the API server served no such resource.
	if r := kubectl(t, "", "get", "crd", "rollouts.argoproj.io"); r.Err == nil {
		t.Fatalf("the Rollout CRD exists before the test installs it: the rule's acceptance is not shown: %s", r)
	}

	const name = "int-rollout"
	ns := namespace(t, "rollout", nil)
	applyPolicy(t, name, "{mode: Enforce, match: {namespaceSelector: {matchLabels: {int-test: rollout}}}, containers: {privileged: Forbid}}")
	mustKubectl(t, rolloutCRD, "apply", "-f", "-")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
		defer cancel()
		_, _, _ = env.Kubectl(ctx, "", "delete", "crd", "rollouts.argoproj.io", "--ignore-not-found", "--wait=false")
	})
	mustKubectl(t, "", "wait", "--for=condition=Established", "crd/rollouts.argoproj.io", "--timeout=20s")

	// kubectl's discovery may lag the new CRD for a moment: retry until it knows the kind.
	var r result
	eventually(t, 20*time.Second, "kubectl to know the Rollout kind", func() (bool, string) {
		r = kubectl(t, rollout(ns, "priv", privileged), "apply", "-f", "-")
		return !strings.Contains(r.Stderr, "no matches for kind"), r.String()
	})
	for _, w := range []string{
		`admission webhook "workloads.sealgate.dev" denied the request`,
		`Rollout "priv" in namespace "int-rollout"`,
		"spec.template.spec.containers[0].securityContext.privileged",
		"[" + name + "/containers.privileged]",
	} {
		if r.Err == nil || !strings.Contains(r.Stderr, w) {
			t.Errorf("want the privileged Rollout denied with %q: %s", w, r)
		}
	}
	if r := kubectl(t, "", "get", "rollouts.argoproj.io", "priv", "-n", ns); r.Err == nil {
		t.Errorf("the denied Rollout was stored: %s", r)
	}
	// A compliant one is created: the deny came from the container, not from the kind.
	mustKubectl(t, rollout(ns, "ok", ""), "create", "-f", "-")
}
