//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// pod renders a Pod with one container "c"; extra is appended to the container's fields and
// podExtra to the pod spec's (both YAML flow-mapping entries, may be empty).
func pod(ns, name, image, extra, podExtra string) string {
	if extra != "" {
		extra = ", " + extra
	}
	if podExtra != "" {
		podExtra = podExtra + ", "
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s, labels: {app: %s}}
spec: {%scontainers: [{name: c, image: %q, command: [sleep, "3600"]%s}]}
`, name, ns, name, podExtra, image, extra)
}

const privileged = "securityContext: {privileged: true}"

// 1. kubectl apply of a privileged pod with hostNetwork: denied by the workload webhook, every
// reason with its field path, non-zero exit status.
func TestPrivilegedPodDenied(t *testing.T) {
	ns := namespace(t, "privileged", nil)
	applyPolicy(t, "e2e-privileged", fmt.Sprintf("{mode: Enforce, match: %s, containers: {privileged: Forbid, hostNamespaces: Forbid}}", scoped("privileged")))

	r := kubectl(t, pod(ns, "priv", "busybox:1.37", privileged, "hostNetwork: true"), "apply", "-f", "-")
	t.Logf("%s", r)
	wantDenied(t, r,
		`Pod "priv" in namespace "e2e-privileged" was denied by sealgate (2 violations)`,
		"- spec.containers[0].securityContext.privileged: ",
		"[e2e-privileged/containers.privileged]",
		"- spec.hostNetwork: ",
		"[e2e-privileged/containers.hostNamespaces]")
	if r := kubectl(t, "", "get", "pod", "priv", "-n", ns); !strings.Contains(r.Stderr, "NotFound") {
		t.Errorf("the denied pod exists: %s", r)
	}
}

// 2. Pod templates in other kinds: a compliant Deployment is admitted and stored; a non-compliant
// Deployment and CronJob are denied with the path of their pod templates.
func TestWorkloadKinds(t *testing.T) {
	ns := namespace(t, "kinds", nil)
	applyPolicy(t, "e2e-kinds", fmt.Sprintf("{match: %s, containers: {privileged: Forbid}}", scoped("kinds")))

	deploy := func(name, containerExtra string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s, namespace: %s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      containers: [{name: c, image: "busybox:1.37"%s}]
`, name, ns, name, name, containerExtra)
	}
	wantAdmitted(t, kubectl(t, deploy("good", ""), "apply", "-f", "-"))
	if r := mustKubectl(t, "", "get", "deploy", "good", "-n", ns, "-o", "name"); strings.TrimSpace(r.Stdout) != "deployment.apps/good" {
		t.Errorf("the admitted deployment is not stored: %s", r)
	}

	wantDenied(t, kubectl(t, deploy("bad", ", "+privileged), "apply", "-f", "-"),
		`Deployment "bad" in namespace "e2e-kinds" was denied`,
		"spec.template.spec.containers[0].securityContext.privileged")

	cron := fmt.Sprintf(`apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: %s}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: "busybox:1.37", %s}]
`, ns, privileged)
	wantDenied(t, kubectl(t, cron, "apply", "-f", "-"),
		`CronJob "nightly" in namespace "e2e-kinds" was denied`,
		"spec.jobTemplate.spec.template.spec.containers[0].securityContext.privileged")
}

// 3. Server-side dry run: the same verdict, and nothing is persisted.
func TestServerDryRun(t *testing.T) {
	ns := namespace(t, "dryrun", nil)
	applyPolicy(t, "e2e-dryrun", fmt.Sprintf("{match: %s, containers: {privileged: Forbid}}", scoped("dryrun")))

	bad := pod(ns, "bad", "busybox:1.37", privileged, "")
	counted := map[string]string{"policy": "e2e-dryrun", "decision": "denied"}
	before := metric(t, "sealgate_violations_total", counted)
	dry := kubectl(t, bad, "apply", "--dry-run=server", "-f", "-")
	wantDenied(t, dry, `Pod "bad" in namespace "e2e-dryrun" was denied`, "spec.containers[0].securityContext.privileged")
	// A dry run causes no side effect, sealgate's metrics included; the real request is counted.
	if got := metric(t, "sealgate_violations_total", counted); got != before {
		t.Errorf("a dry run changed sealgate_violations_total%v by %v", counted, got-before)
	}
	real := kubectl(t, bad, "apply", "-f", "-")
	if dry.Stderr != real.Stderr {
		t.Errorf("dry run and real apply disagree:\ndry run: %s\nreal:    %s", dry.Stderr, real.Stderr)
	}
	eventually(t, 5*time.Second, "the real denial counted", func() (bool, string) {
		got := metric(t, "sealgate_violations_total", counted)
		return got == before+1, fmt.Sprintf("before %v, now %v", before, got)
	})

	r := kubectl(t, pod(ns, "good", "busybox:1.37", "", ""), "apply", "--dry-run=server", "-f", "-")
	wantAdmitted(t, r)
	if !strings.Contains(r.Stdout, "(server dry run)") {
		t.Errorf("kubectl did not report a server dry run: %s", r)
	}
	if r := kubectl(t, "", "get", "pod", "good", "-n", ns); r.Err == nil || !strings.Contains(r.Stderr, "NotFound") {
		t.Errorf("the dry-run pod was persisted: %s", r)
	}
}
