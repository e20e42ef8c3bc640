//go:build integration

package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealgate/sealgate/pkg/webhookconfig"
)

// workloadConditions reads the matchConditions of the workload webhook the API server calls.
func workloadConditions(t *testing.T) []admissionregistrationv1.MatchCondition {
	t.Helper()
	vwc := webhookconfig.Empty()
	if err := env.Client.Get(t.Context(), client.ObjectKey{Name: "sealgate"}, vwc); err != nil {
		t.Fatal(err)
	}
	for _, w := range vwc.Webhooks {
		if w.Name == webhookconfig.WorkloadWebhook {
			return w.MatchConditions
		}
	}
	t.Fatal("no workload webhook in the configuration")
	return nil
}

func describeConditions(cs []admissionregistrationv1.MatchCondition) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "\n  %s: %s", c.Name, c.Expression)
	}
	return b.String()
}

// TestMatchConditionsSkipRequests: with the matchConditions sealgate writes for the policies in
// force, the real API server does not call sealgate for a request in a namespace every policy
// excludes, nor for an UPDATE that leaves the pod spec as it was, nor for anything when no policy is
// in force; it does call it for a request a policy acts on. Requests are counted at sealgate's
// server (controller_runtime_webhook_requests_total{webhook="/validate"}).
func TestMatchConditionsSkipRequests(t *testing.T) {
	skip := namespace(t, "mc-skip", nil)
	act := namespace(t, "mc-act", nil)
	const name = "int-mc"
	applyPolicy(t, name, fmt.Sprintf("{mode: Enforce, match: {excludeNamespaces: [%s]}, containers: {privileged: Forbid}}", skip))
	// In force means written: the elected replica writes the conditions before the status.
	if cs := workloadConditions(t); !strings.Contains(describeConditions(cs), `"`+skip+`"`) {
		t.Fatalf("policy %s is in force but the workload webhook's conditions do not exclude %s:%s", name, skip, describeConditions(cs))
	}

	requests := func() float64 {
		return metric(t, "controller_runtime_webhook_requests_total", map[string]string{"webhook": "/validate"})
	}
	// expect waits for the counter to reach before+n, then makes sure no more arrive: the counter is
	// written after the response.
	expect := func(what string, before, n float64) {
		t.Helper()
		eventually(t, 5*time.Second, what, func() (bool, string) {
			return requests() >= before+n, fmt.Sprintf("webhook requests before %v, now %v", before, requests())
		})
		time.Sleep(500 * time.Millisecond)
		if got := requests(); got != before+n {
			t.Errorf("%s: sealgate received %v requests, want %v", what, got-before, n)
		}
	}

	before := requests()
	r := kubectl(t, pod(skip, "priv", privileged), "apply", "--dry-run=server", "-f", "-")
	if r.Err != nil {
		t.Errorf("a privileged pod in %s, which the only policy excludes, was not admitted: %s", skip, r)
	}
	expect("a pod in a namespace every policy excludes", before, 0)

	before = requests()
	r = kubectl(t, pod(act, "priv", privileged), "apply", "--dry-run=server", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, "["+name+"/containers.privileged]") {
		t.Errorf("a privileged pod in %s was not denied by %s: %s", act, name, r)
	}
	expect("a pod the policy denies", before, 1)

	before = requests()
	mustKubectl(t, pod(act, "ok", ""), "apply", "-f", "-")
	t.Cleanup(func() { cleanupKubectl(t, "delete", "pod", "ok", "-n", act, "--ignore-not-found", "--wait=false") })
	expect("a compliant pod the policy checks", before, 1)

	before = requests()
	mustKubectl(t, "", "label", "pod", "ok", "-n", act, "rollout=2")
	expect("an UPDATE that changes only a label", before, 0)

	before = requests()
	mustKubectl(t, "", "set", "image", "pod/ok", "-n", act, "c=busybox:1.36")
	expect("an UPDATE that changes an image", before, 1)

	// No policy in force: the API server calls sealgate for nothing.
	mustKubectl(t, "", "delete", "cap", name)
	if others := strings.TrimSpace(mustKubectl(t, "", "get", "cap", "-o", "name").Stdout); others != "" {
		t.Logf("other policies are in force (%s): the no-policy condition is not checked", others)
		return
	}
	eventually(t, settle, "the no-policy condition", func() (bool, string) {
		cs := workloadConditions(t)
		return len(cs) == 1 && cs[0].Name == webhookconfig.NoPolicyCondition, describeConditions(cs)
	})
	before = requests()
	if r := kubectl(t, pod(act, "priv", privileged), "apply", "--dry-run=server", "-f", "-"); r.Err != nil {
		t.Errorf("with no policy in force a pod was not admitted: %s", r)
	}
	expect("a pod with no policy in force", before, 0)
}
