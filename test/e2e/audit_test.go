//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// auditRun is one run of `sealgate audit`.
type auditRun struct {
	code           int
	stdout, stderr string
}

// sealgateAudit runs the real binary's audit against the test cluster.
func sealgateAudit(t *testing.T, args ...string) auditRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), kubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, sealgateBinary, append([]string{"audit", "--kubeconfig", env.Kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := auditRun{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("sealgate audit %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// auditJSON is the part of `sealgate audit -o json` the tests read.
type auditJSON struct {
	Results []struct {
		Kind, Namespace, Name string
		Pods                  int
		Allowed               bool
		Violations            []struct {
			Policy, Rule, Path, Object string
		}
	}
	Summary struct {
		Objects, Pods, Denied, Warned, Audited int
		Namespaces                             []struct {
			Namespace             string
			Objects, Pods, Denied int
		}
	}
	SignaturesSkipped bool
	AsEnforce         bool
	PolicySource      string
	Listed            int
	APIRequests       int
}

func decodeAudit(t *testing.T, r auditRun) auditJSON {
	t.Helper()
	var out auditJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("audit -o json: %v\nstdout: %s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return out
}

// ownedWorkloads creates what a controller manager would have made for a Deployment with three
// pods, a CronJob with one Job and pod, a DaemonSet-less bare pod, and a compliant Deployment, by
// hand with controller owner references (envtest runs no controller manager).
func ownedWorkloads(t *testing.T, ns string) {
	t.Helper()
	deploy := func(name, extra string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec: {containers: [{name: c, image: "busybox:1.37", command: [sleep, "3600"]%[3]s}]}
`, name, ns, extra)
	}
	mustKubectl(t, deploy("web", ", "+privileged), "apply", "-f", "-")
	mustKubectl(t, deploy("clean", ""), "apply", "-f", "-")
	uid := func(kind, name string) string {
		return strings.TrimSpace(mustKubectl(t, "", "get", kind, name, "-n", ns, "-o", "jsonpath={.metadata.uid}").Stdout)
	}
	owner := func(apiVersion, kind, name string) string {
		return fmt.Sprintf("ownerReferences: [{apiVersion: %s, kind: %s, name: %s, uid: %s, controller: true}]",
			apiVersion, kind, name, uid(kind, name))
	}
	mustKubectl(t, fmt.Sprintf(`apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-5d4f, namespace: %s, %s}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: "busybox:1.37", command: [sleep, "3600"], %s}]}
`, ns, owner("apps/v1", "Deployment", "web"), privileged), "apply", "-f", "-")
	rsOwner := owner("apps/v1", "ReplicaSet", "web-5d4f")
	for _, name := range []string{"web-5d4f-a", "web-5d4f-b", "web-5d4f-c"} {
		mustKubectl(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s, labels: {app: web}, %s}
spec: {containers: [{name: c, image: "busybox:1.37", command: [sleep, "3600"], %s}]}
`, name, ns, rsOwner, privileged), "apply", "-f", "-")
	}
	mustKubectl(t, pod(ns, "bare", "busybox:1.37", privileged, ""), "apply", "-f", "-")
	mustKubectl(t, pod(ns, "fine", "busybox:1.37", "", ""), "apply", "-f", "-")
}

// Workloads first, then the policy: the audit finds exactly the violating top-level objects, each
// once, with their pods; then --as-enforce, --policy (what-if) and the exit codes.
func TestAuditCommand(t *testing.T) {
	ns := namespace(t, "audit-cli", nil)
	ownedWorkloads(t, ns)
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	whatIf := policyYAML("e2e-audit-whatif", fmt.Sprintf("{mode: Enforce, match: %s, images: {disallowLatestTag: true}, containers: {privileged: Forbid}}", scoped("audit-cli")))
	if err := os.WriteFile(policyFile, []byte(whatIf), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("NoPolicyYet", func(t *testing.T) {
		r := sealgateAudit(t, "-n", ns, "-o", "json")
		if r.code != 0 {
			t.Fatalf("want exit 0 before any policy, got %d: %s", r.code, r.stderr)
		}
		if out := decodeAudit(t, r); len(out.Results) != 0 || out.Summary.Objects != 4 || out.Summary.Pods != 5 {
			t.Errorf("want 4 top-level objects (web, clean, bare, fine) with 5 pods and no results, got %+v", out)
		}
	})

	t.Run("WhatIfFromFile", func(t *testing.T) {
		r := sealgateAudit(t, "-n", ns, "-o", "json", "--policy", policyFile)
		if r.code != 1 {
			t.Fatalf("want exit 1 (would deny), got %d: %s", r.code, r.stderr)
		}
		out := decodeAudit(t, r)
		if out.PolicySource != "files" {
			t.Errorf("policySource = %q, want files", out.PolicySource)
		}
		var got []string
		for _, res := range out.Results {
			got = append(got, fmt.Sprintf("%s/%s pods=%d allowed=%v", res.Kind, res.Name, res.Pods, res.Allowed))
			for _, v := range res.Violations {
				if v.Policy != "e2e-audit-whatif" || v.Rule != "containers.privileged" || v.Object != "" {
					t.Errorf("%s/%s: unexpected violation %+v", res.Kind, res.Name, v)
				}
			}
		}
		want := []string{"Deployment/web pods=3 allowed=false", "Pod/bare pods=1 allowed=false"}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("results = %q, want %q (each violating object once, pods under their Deployment)", got, want)
		}
		if out.Summary.Denied != 2 || out.Summary.Objects != 4 || out.Summary.Pods != 5 {
			t.Errorf("summary = %+v, want 2 denied of 4 objects and 5 pods", out.Summary)
		}
		if len(out.Summary.Namespaces) != 1 || out.Summary.Namespaces[0].Namespace != ns || out.Summary.Namespaces[0].Denied != 2 {
			t.Errorf("namespace totals = %+v", out.Summary.Namespaces)
		}
	})

	// The same policy installed in Warn mode after the workloads.
	applyPolicy(t, "e2e-audit-warn", fmt.Sprintf("{mode: Warn, match: %s, containers: {privileged: Forbid}}", scoped("audit-cli")))

	t.Run("ClusterPolicyWarn", func(t *testing.T) {
		r := sealgateAudit(t, "-n", ns)
		t.Logf("sealgate audit -n %s:\n%s%s", ns, r.stdout, r.stderr)
		if r.code != 0 {
			t.Fatalf("want exit 0: a Warn policy denies nothing, got %d: %s%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{
			"Policy e2e-audit-warn (Warn) would warn on 2 objects (4 pods) in 1 namespace (e2e-audit-cli: 2)",
			"Deployment e2e-audit-cli/web (3 pods): ADMITTED",
			"spec.template.spec.containers[0].securityContext.privileged:",
			"Pod e2e-audit-cli/bare (1 pod): ADMITTED",
			"4 objects (5 pods) audited in 1 namespace: 0 would be denied, 2 warned, 0 audited",
			"from the cluster",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("text output lacks %q:\n%s", want, r.stdout)
			}
		}
		for _, never := range []string{"ReplicaSet", "Pod e2e-audit-cli/web-5d4f", "clean", "fine"} {
			if strings.Contains(r.stdout, never) {
				t.Errorf("text output mentions %q, which must not be reported on its own:\n%s", never, r.stdout)
			}
		}
	})

	t.Run("AsEnforce", func(t *testing.T) {
		r := sealgateAudit(t, "-n", ns, "--as-enforce", "-o", "json")
		if r.code != 1 {
			t.Fatalf("want exit 1 with --as-enforce, got %d: %s", r.code, r.stderr)
		}
		if out := decodeAudit(t, r); !out.AsEnforce || out.Summary.Denied != 2 || out.Summary.Warned != 0 {
			t.Errorf("want asEnforce and 2 denied, 0 warned: %+v", out.Summary)
		}
	})

	t.Run("Report", func(t *testing.T) {
		r := sealgateAudit(t, "-n", ns, "-o", "report")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, want := range []string{"apiVersion: openreports.io/v1alpha1", "kind: Report", "kind: ClusterReport",
			"name: sealgate\n", "namespace: " + ns, "policy: e2e-audit-warn", "result: warn", "rule: containers.privileged"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("report output lacks %q:\n%s", want, r.stdout)
			}
		}
	})

	t.Run("UsageError", func(t *testing.T) {
		if r := sealgateAudit(t, "-n", ns, "-A"); r.code != 2 || !strings.Contains(r.stderr, "cannot be used together") {
			t.Errorf("want exit 2 for -n with -A, got %d: %s", r.code, r.stderr)
		}
		if r := sealgateAudit(t, "-n", "e2e-no-such-namespace"); r.code != 2 {
			t.Errorf("want exit 2 for a namespace that does not exist, got %d: %s", r.code, r.stderr)
		}
	})
}
