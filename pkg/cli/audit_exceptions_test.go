package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func clusterException(name, namespace, rules, match string) string {
	return `apiVersion: sealgate.dev/v1alpha1
kind: PolicyException
metadata: {name: ` + name + `, namespace: ` + namespace + `, uid: uid-` + name + `, generation: 1}
spec:
  reason: the agent needs it
  policies: [{name: no-privileged, rules: [` + rules + `]}]
  match: ` + match + `
`
}

// auditExceptionCluster has a privileged Deployment "agent" (and its pod) and a privileged pod
// "tool" in prod, and a policy that forbids privileged containers.
func auditExceptionCluster(t *testing.T) *fakeAPI {
	f := newFakeAPI(t)
	f.addNamespace("prod", nil)
	f.add(auditDeployment("prod", "agent", auditImage, true, 1)...)
	f.add(auditPod("prod", "tool", auditImage, true, nil))
	f.addPolicy(auditPolicy("no-privileged", "Enforce", noPrivileged))
	f.webhook = auditWebhook(t)
	return f
}

// The audit applies the cluster's exceptions: what they waive is listed, marked, and counted apart,
// and does not make the audit fail.
func TestAuditClusterExceptions(t *testing.T) {
	f := auditExceptionCluster(t)
	f.addException(clusterException("agent", "sealgate-system", "containers.privileged", `{namespaces: [prod], names: ["agent*"]}`))
	// An invalid exception in the cluster is not in force, as no replica would enforce it.
	f.addException(clusterException("typo", "sealgate-system", "containers.privilegd", `{namespaces: [prod]}`))
	stdout, stderr, code := runAudit(t, f.start())
	if code != ExitDenied {
		t.Fatalf("exit %d, want %d (tool is not excepted); stderr: %s\n%s", code, ExitDenied, stderr, stdout)
	}
	for _, want := range []string{
		"PolicyException sealgate-system/agent waives no-privileged/containers.privileged on 1 object (1 pod) in 1 namespace (prod: 1)",
		"prod                           1 denied, 0 warned, 0 audited, 1 excepted of 2 objects (2 pods)",
		"Deployment prod/agent (1 pod): ADMITTED",
		"  waive  spec.template.spec.containers[0].securityContext.privileged: ",
		"[no-privileged/containers.privileged] (excepted by sealgate-system/agent)",
		"Pod prod/tool (1 pod): DENIED",
		"would be denied, 0 warned, 0 audited, 1 excepted",
		"1 policy from the cluster, 1 exception from the cluster",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if stderr != "" {
		t.Errorf("stderr: %s", stderr)
	}

	var full struct {
		ExceptionSource string `json:"exceptionSource"`
		Exceptions      int    `json:"exceptions"`
		Results         []struct {
			Name       string
			Violations []struct{ Excepted string }
		}
		Summary struct{ Excepted int }
	}
	stdout, _, _ = runAudit(t, f.start(), "-o", "json")
	if err := json.Unmarshal([]byte(stdout), &full); err != nil {
		t.Fatal(err)
	}
	if full.ExceptionSource != "cluster" || full.Exceptions != 1 || full.Summary.Excepted != 1 {
		t.Errorf("exceptionSource %q, exceptions %d, summary.excepted %d", full.ExceptionSource, full.Exceptions, full.Summary.Excepted)
	}
	for _, r := range full.Results {
		if r.Name == "agent" && (len(r.Violations) != 1 || r.Violations[0].Excepted != "sealgate-system/agent") {
			t.Errorf("agent's violations: %+v", r.Violations)
		}
	}
}

// Files add exceptions to the cluster's and replace one of the same namespace and name; without the
// PolicyException API the audit says it has only the files'.
func TestAuditExceptionFiles(t *testing.T) {
	dir := t.TempDir()
	covers := writeTemp(t, dir, "both.yaml", clusterException("agent", "sealgate-system", "containers.privileged", `{namespaces: [prod]}`))
	f := auditExceptionCluster(t)
	f.addException(clusterException("agent", "sealgate-system", "containers.privileged", `{namespaces: [prod], names: ["agent*"]}`))
	stdout, stderr, code := runAudit(t, f.start(), "--exceptions", covers)
	if code != ExitOK {
		t.Fatalf("exit %d, want %d (the file's exception covers tool too); stderr: %s\n%s", code, ExitOK, stderr, stdout)
	}
	if !strings.Contains(stdout, "1 exception from the cluster and files") {
		t.Errorf("output does not say where the exceptions came from:\n%s", stdout)
	}

	g := auditExceptionCluster(t)
	g.noExceptionCRD = true
	stdout, stderr, code = runAudit(t, g.start(), "--exceptions", covers)
	if code != ExitOK {
		t.Fatalf("exit %d without the CRD; stderr: %s\n%s", code, stderr, stdout)
	}
	if want := "note: cannot list PolicyExceptions (not found); auditing without the cluster's exceptions\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	if !strings.Contains(stdout, "1 exception from the files") {
		t.Errorf("output:\n%s", stdout)
	}

	// Exceptions inside --policy files are read as with check.
	policyAndException := writeTemp(t, dir, "policy.yaml", auditPolicy("no-privileged", "Enforce", noPrivileged)+"---\n"+
		clusterException("inline", "sealgate-system", "containers", `{namespaces: [prod]}`))
	if stdout, stderr, code := runAudit(t, g.start(), "--policy", policyAndException); code != ExitOK || !strings.Contains(stdout, "(excepted by sealgate-system/inline)") {
		t.Errorf("exit %d with an exception in the policy file; stderr: %s\n%s", code, stderr, stdout)
	}
}
