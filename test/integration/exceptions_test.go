//go:build integration

package integration

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"

	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/test/cluster"
)

// PolicyExceptions against the real API server: the CRD's schema, the policy webhook's validation,
// the exception informer of the serving replica, and the status its elected writer keeps.

func exceptionYAML(ns, name, spec string) string {
	return fmt.Sprintf("apiVersion: sealgate.dev/v1alpha1\nkind: PolicyException\nmetadata: {name: %s, namespace: %s}\nspec: %s\n", name, ns, spec)
}

// applyException applies an exception, returns kubectl's result (its warnings are on stderr) and
// deletes the exception when the test ends.
func applyException(t *testing.T, ns, name, spec string) result {
	t.Helper()
	r := mustKubectl(t, exceptionYAML(ns, name, spec), "apply", "-f", "-")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
		defer cancel()
		_, _, _ = env.Kubectl(ctx, "", "delete", "policyexception", name, "-n", ns, "--ignore-not-found")
	})
	return r
}

// waitException waits until the exception's Ready condition has status and reason for its current
// generation, and returns the condition's message.
func waitException(t *testing.T, ns, name, status, reason string) string {
	t.Helper()
	const jp = `jsonpath={.metadata.generation}|{.status.observedGeneration}|{.status.conditions[?(@.type=="Ready")].status}|` +
		`{.status.conditions[?(@.type=="Ready")].reason}|{.status.conditions[?(@.type=="Ready")].message}`
	var msg string
	eventually(t, settle, fmt.Sprintf("exception %s/%s Ready=%s (%s)", ns, name, status, reason), func() (bool, string) {
		r := kubectl(t, "", "get", "policyexception", name, "-n", ns, "-o", jp)
		f := strings.SplitN(r.Stdout, "|", 5)
		if r.Err != nil || len(f) != 5 {
			return false, r.String()
		}
		msg = f[4]
		return f[0] != "" && f[1] == f[0] && f[2] == status && f[3] == reason, r.Stdout
	})
	return msg
}

const privilegedAgent = "securityContext: {privileged: true}"

// (a) A waived rule is admitted and reported as excepted: the response warns which exception waived
// it, the metric counts it excepted, the background audit's report has a skip result naming the
// exception, and `sealgate audit` lists it marked. The rule it does not waive still denies, and an
// exception the API server's schema accepts but sealgate does not is rejected with its field path.
func TestExceptionWaives(t *testing.T) {
	ns := namespace(t, "exc-waive", nil)
	const policy = "int-exc-waive"
	applyPolicy(t, policy, `{mode: Enforce, match: {namespaceSelector: {matchLabels: {int-test: exc-waive}}},
  containers: {privileged: Forbid, readOnlyRootFilesystem: Require}}`)
	r := applyException(t, cluster.Namespace, "exc-waive", `{reason: "the agent needs a privileged container", policies: [{name: `+policy+`, rules: [containers.privileged]}],
  match: {namespaces: [`+ns+`], kinds: [Pod], names: ["agent-*"]}}`)
	if strings.Contains(r.Stderr, "Warning") {
		t.Errorf("a valid exception that applies was applied with warnings: %s", r)
	}
	waitException(t, cluster.Namespace, "exc-waive", "True", "InForce")

	excepted := map[string]string{"policy": policy, "rule": "containers.privileged", "decision": "excepted"}
	before := metric(t, "sealgate_violations_total", excepted)
	agent := pod(ns, "agent-1", "securityContext: {privileged: true, readOnlyRootFilesystem: true}")
	r = kubectl(t, agent, "apply", "-f", "-")
	if r.Err != nil {
		t.Fatalf("the waived pod was not admitted: %s", r)
	}
	t.Cleanup(func() { cleanupKubectl(t, "delete", "pod", "agent-1", "-n", ns, "--ignore-not-found", "--wait=false") })
	want := fmt.Sprintf("Warning: sealgate: 1 violation waived by PolicyException %s/exc-waive; reported in the audit log, not enforced", cluster.Namespace)
	if !strings.Contains(r.Stderr, want) {
		t.Errorf("no warning %q: %s", want, r)
	}
	if got := metric(t, "sealgate_violations_total", excepted); got != before+1 {
		t.Errorf("sealgate_violations_total%v rose by %v, want 1", excepted, got-before)
	}

	// The rule it does not waive denies; another name is not covered.
	r = kubectl(t, pod(ns, "agent-2", privilegedAgent), "apply", "--dry-run=server", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, "[int-exc-waive/containers.readOnlyRootFilesystem]") ||
		strings.Contains(r.Stderr, "securityContext.privileged: ") || !strings.Contains(r.Stderr, "1 violation waived") {
		t.Errorf("want denied for readOnlyRootFilesystem alone, with the privileged one waived: %s", r)
	}
	r = kubectl(t, pod(ns, "other", privilegedAgent), "apply", "--dry-run=server", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, "[int-exc-waive/containers.privileged]") {
		t.Errorf("want the pod the exception does not name denied: %s", r)
	}

	// The background audit reports the waived violation as a skip result naming the exception.
	eventually(t, settle, "the report's skip result", func() (bool, string) {
		rep := getReport(t, ns)
		if rep == nil {
			return false, "no report"
		}
		for _, res := range rep.Results {
			if res.Result == orv1alpha1.Result(audit.ResultSkip) && res.Policy == policy &&
				res.Properties[audit.PropertyException] == cluster.Namespace+"/exc-waive" {
				return true, ""
			}
		}
		return false, resultLines(rep.Results)
	})

	// `sealgate audit` lists it marked, and the pod as admitted.
	out, err := exec.CommandContext(t.Context(), sg.Cmd.Path, "audit", "--kubeconfig", env.Kubeconfig, "-n", ns).CombinedOutput()
	for _, want := range []string{"Pod " + ns + "/agent-1 (1 pod): ADMITTED", "(excepted by " + cluster.Namespace + "/exc-waive)", "1 excepted"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("sealgate audit output lacks %q (%v):\n%s", want, err, out)
		}
	}

	// Validated like policies, with field paths: what the CRD's schema lets through, sealgate rejects.
	r = kubectl(t, exceptionYAML(cluster.Namespace, "exc-invalid", `{reason: r, policies: [{name: `+policy+`, rules: [containers.privilegd]}],
  match: {kinds: [Service], images: ["quay.io/cilium/cilium:v1.*"]}}`), "apply", "-f", "-")
	for _, want := range []string{`admission webhook "policies.sealgate.dev" denied the request`,
		`spec.match.kinds[0]: Unsupported value: "Service"`, `spec.match.images[0]: Invalid value: "quay.io/cilium/cilium:v1.*"`} {
		if r.Err == nil || !strings.Contains(r.Stderr, want) {
			t.Errorf("want the invalid exception rejected with %q: %s", want, r)
		}
	}
	r = kubectl(t, exceptionYAML(cluster.Namespace, "exc-invalid", `{reason: r, policies: [{name: `+policy+`, rules: [containers.privilegd]}]}`), "apply", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, `spec.policies[0].rules[0]: Invalid value: "containers.privilegd": no rule of this sealgate has this ID`) {
		t.Errorf("want an unknown rule rejected with its path: %s", r)
	}
}

// (b) An expired exception stops applying: admitted before spec.expires, denied after, and its
// status flips to Expired without anything else changing.
func TestExceptionExpires(t *testing.T) {
	ns := namespace(t, "exc-expiry", nil)
	const policy = "int-exc-expiry"
	applyPolicy(t, policy, `{mode: Enforce, match: {namespaceSelector: {matchLabels: {int-test: exc-expiry}}}, containers: {privileged: Forbid}}`)
	// Far enough ahead for the exception to be in force and one dry run to pass on a loaded machine;
	// nothing below sleeps, it polls.
	expires := time.Now().Add(10 * time.Second).UTC().Truncate(time.Second)
	applyException(t, cluster.Namespace, "exc-expiry", fmt.Sprintf(`{reason: "until the fix ships", expires: %q, policies: [{name: %s}],
  match: {namespaces: [%s]}}`, expires.Format(time.RFC3339), policy, ns))
	msg := waitException(t, cluster.Namespace, "exc-expiry", "True", "InForce")
	if !strings.Contains(msg, "it expires at "+expires.Format(time.RFC3339)) {
		t.Errorf("Ready message does not say when it expires: %q", msg)
	}
	privPod := pod(ns, "priv", privilegedAgent)
	if r := kubectl(t, privPod, "apply", "--dry-run=server", "-f", "-"); r.Err != nil {
		if time.Now().Before(expires) {
			t.Fatalf("denied before spec.expires: %s", r)
		}
		t.Fatalf("the machine was too slow to check the exception before it expired (%s): %s", expires, r)
	}
	msg = waitException(t, cluster.Namespace, "exc-expiry", "False", "Expired")
	if !strings.Contains(msg, "expired at "+expires.Format(time.RFC3339)+" (spec.expires)") {
		t.Errorf("Expired message: %q", msg)
	}
	r := kubectl(t, privPod, "apply", "--dry-run=server", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, "[int-exc-expiry/containers.privileged]") || strings.Contains(r.Stderr, "waived") {
		t.Errorf("want denied once expired: %s", r)
	}
}

// (c) An exception outside the namespaces its policy accepts exceptions from is ignored: warned at
// apply time, NotAllowed in its status with the policy and why, and the pod is denied. Allowing the
// namespace in the policy makes it apply, for objects of its own namespace.
func TestExceptionNotAllowed(t *testing.T) {
	ns := namespace(t, "exc-team", nil)
	const policy = "int-exc-team"
	spec := func(allowed string) string {
		return `{mode: Enforce, match: {namespaceSelector: {matchLabels: {int-test: exc-team}}}, containers: {privileged: Forbid}` + allowed + `}`
	}
	applyPolicy(t, policy, spec(""))
	r := applyException(t, ns, "exc-team", `{reason: "the team says so", policies: [{name: `+policy+`}]}`)
	wantWhy := fmt.Sprintf(`policy %q accepts exceptions only from sealgate's namespace %q (spec.exceptions.allowedNamespaces is unset)`, policy, cluster.Namespace)
	if !strings.Contains(r.Stderr, "Warning: sealgate: this exception is ignored: "+wantWhy) {
		t.Errorf("no warning at apply time that the exception is ignored: %s", r)
	}
	msg := waitException(t, ns, "exc-team", "False", "NotAllowed")
	if !strings.Contains(msg, "ignored by 1 of the 1 policies it names: "+wantWhy) {
		t.Errorf("NotAllowed message: %q", msg)
	}
	privPod := pod(ns, "priv", privilegedAgent)
	if r := kubectl(t, privPod, "apply", "--dry-run=server", "-f", "-"); r.Err == nil || strings.Contains(r.Stderr, "waived") {
		t.Errorf("want denied: the exception is ignored: %s", r)
	}

	// The policy allows the namespace: the status follows the policy change, and the pod is admitted.
	mustKubectl(t, policyYAML(policy, spec(`, exceptions: {allowedNamespaces: [`+ns+`]}`)), "apply", "-f", "-")
	waitPolicyReady(t, policy)
	waitException(t, ns, "exc-team", "True", "InForce")
	eventually(t, settle, "the pod admitted under the exception", func() (bool, string) {
		r := kubectl(t, privPod, "apply", "--dry-run=server", "-f", "-")
		return r.Err == nil && strings.Contains(r.Stderr, "waived by PolicyException "+ns+"/exc-team"), r.String()
	})
}

// (d) Forbid holds: a policy with spec.exceptions.forbid ignores even an exception in sealgate's own
// namespace, and says so in its status.
func TestExceptionForbid(t *testing.T) {
	ns := namespace(t, "exc-forbid", nil)
	const policy = "int-exc-forbid"
	applyPolicy(t, policy, `{mode: Enforce, match: {namespaceSelector: {matchLabels: {int-test: exc-forbid}}}, containers: {privileged: Forbid},
  exceptions: {forbid: true}}`)
	r := applyException(t, cluster.Namespace, "exc-forbid", `{reason: "please", policies: [{name: `+policy+`}], match: {namespaces: [`+ns+`]}}`)
	if !strings.Contains(r.Stderr, fmt.Sprintf(`Warning: sealgate: this exception is ignored: policy %q forbids exceptions (spec.exceptions.forbid)`, policy)) {
		t.Errorf("no warning at apply time: %s", r)
	}
	msg := waitException(t, cluster.Namespace, "exc-forbid", "False", "NotAllowed")
	if !strings.Contains(msg, fmt.Sprintf(`policy %q forbids exceptions (spec.exceptions.forbid)`, policy)) {
		t.Errorf("NotAllowed message: %q", msg)
	}
	r = kubectl(t, pod(ns, "priv", privilegedAgent), "apply", "--dry-run=server", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, "[int-exc-forbid/containers.privileged]") || strings.Contains(r.Stderr, "waived") {
		t.Errorf("want denied under forbid: %s", r)
	}
	// forbid with allowedNamespaces is refused at apply, with the field.
	r = kubectl(t, policyYAML(policy, `{containers: {privileged: Forbid}, exceptions: {forbid: true, allowedNamespaces: [`+ns+`]}}`), "apply", "-f", "-")
	if r.Err == nil || !strings.Contains(r.Stderr, "spec.exceptions.allowedNamespaces: Invalid value") {
		t.Errorf("want forbid with allowedNamespaces rejected: %s", r)
	}
}
