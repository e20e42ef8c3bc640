package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeFiles writes name -> content under a temporary directory and returns its path.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// verdictReport is the part of check's JSON these tests read.
type verdictReport struct {
	Results []struct {
		Kind, Namespace, Name string
		Allowed               bool
		Operation             string
		Notes                 []string
		Violations            []struct{ Path, Rule string }
	}
	Excluded []excludedObject
}

func checkJSON(t *testing.T, wantCode int, args ...string) verdictReport {
	t.Helper()
	out, errOut, code := run(t, "", append([]string{"check", "-o", "json", "--skip-signatures", "--skip-image-config"}, args...)...)
	if code != wantCode {
		t.Fatalf("exit %d, want %d; stderr: %s\n%s", code, wantCode, errOut, out)
	}
	var rep verdictReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return rep
}

// paths lists each result as kind/name: verdict, then its violations' paths.
func (r verdictReport) paths() []string {
	var out []string
	for _, res := range r.Results {
		v := "admitted"
		if !res.Allowed {
			v = "denied"
		}
		out = append(out, res.Kind+"/"+res.Name+": "+v)
		for _, vi := range res.Violations {
			out = append(out, "  "+vi.Path)
		}
	}
	return out
}

const restrictedPolicy = `apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata: {name: restricted}
spec: {podSecurity: {level: restricted, version: latest}}
`

const restrictedPodSpec = `
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: c
        image: busybox:1.37
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}`

// The API server makes a volume with no source an emptyDir volume in every built-in kind, before the
// webhook sees it; check must too, and keep the field paths of the other volumes.
func TestCheckDefaultsSourcelessVolumes(t *testing.T) {
	dir := writeFiles(t, map[string]string{"policy.yaml": restrictedPolicy, "workloads.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: scratch}
spec:
  template:
    spec:` + restrictedPodSpec + `
      volumes: [{name: scratch}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: host}
spec:
  template:
    spec:` + restrictedPodSpec + `
      volumes: [{name: scratch}, {name: logs, hostPath: {path: /var/log}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: canary}
spec:
  template:
    spec:` + restrictedPodSpec + `
      volumes: [{name: scratch}]
`})
	rep := checkJSON(t, ExitDenied, "--policy", filepath.Join(dir, "policy.yaml"), "-f", filepath.Join(dir, "workloads.yaml"))
	// A custom resource is defaulted only from its CRD's schema, never as a pod: the webhook sees the
	// Rollout's volume without a source.
	want := []string{"Deployment/scratch: admitted", "Deployment/host: denied", "  spec.template.spec.volumes[1].hostPath",
		"Rollout/canary: denied", "  spec.template.spec.volumes[0]"}
	if diff := cmp.Diff(want, rep.paths()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// In a hostNetwork Pod the API server gives a port with no hostPort its containerPort as hostPort;
// it does not in pod templates. With hostNamespaces waived, the Pod is denied for its host port and
// the Deployment admitted, as the cluster does (test/integration/verdict_test.go).
func TestCheckDefaultsHostNetworkPortsInPodsOnly(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"policy.yaml": `apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata: {name: baseline}
spec: {podSecurity: {level: baseline, version: latest}}
`,
		"exception.yaml": `apiVersion: sealgate.dev/v1alpha1
kind: PolicyException
metadata: {name: agent, namespace: sealgate-system}
spec:
  reason: the agent shares the host network
  policies: [{name: baseline, rules: [podSecurity.hostNamespaces]}]
  match: {namespaces: [default], kinds: [Pod, Deployment], names: [agent]}
`,
		"workloads.yaml": `apiVersion: v1
kind: Pod
metadata: {name: agent}
spec:
  hostNetwork: true
  containers: [{name: agent, image: busybox:1.37, ports: [{containerPort: 9100}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent}
spec:
  template:
    spec:
      hostNetwork: true
      containers: [{name: agent, image: busybox:1.37, ports: [{containerPort: 9100}]}]
`})
	rep := checkJSON(t, ExitDenied, "--policy", filepath.Join(dir, "policy.yaml"), "--exceptions", filepath.Join(dir, "exception.yaml"),
		"-f", filepath.Join(dir, "workloads.yaml"))
	want := []string{"Pod/agent: denied", "  spec.hostNetwork", "  spec.containers[0].ports[0].hostPort",
		"Deployment/agent: admitted", "  spec.template.spec.hostNetwork"}
	if diff := cmp.Diff(want, rep.paths()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

const privilegedPods = `apiVersion: v1
kind: Pod
metadata: {name: sys, namespace: kube-system}
spec: {containers: [{name: c, image: busybox:1.37, securityContext: {privileged: true}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: own, namespace: platform-sealgate}
spec: {containers: [{name: c, image: busybox:1.37, securityContext: {privileged: true}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: app}
spec: {containers: [{name: c, image: busybox:1.37, securityContext: {privileged: true}}]}
`

// The webhook never sees kube-system or sealgate's namespace: check reports objects there as
// excluded, and evaluates them with --include-excluded.
func TestCheckNamespaceExclusions(t *testing.T) {
	dir := writeFiles(t, map[string]string{"policy.yaml": `apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata: {name: no-privileged}
spec: {containers: {privileged: Forbid}}
`, "pods.yaml": privilegedPods})
	args := []string{"--policy", filepath.Join(dir, "policy.yaml"), "-f", filepath.Join(dir, "pods.yaml"), "--sealgate-namespace", "platform-sealgate"}

	rep := checkJSON(t, ExitDenied, args...)
	if diff := cmp.Diff([]string{"Pod/app: denied", "  spec.containers[0].securityContext.privileged"}, rep.paths()); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	var excluded []string
	for _, e := range rep.Excluded {
		excluded = append(excluded, e.Namespace+"/"+e.Name)
		if !strings.Contains(e.Reason, "--include-excluded") {
			t.Errorf("reason %q does not say how to evaluate it", e.Reason)
		}
	}
	if diff := cmp.Diff([]string{"kube-system/sys", "platform-sealgate/own"}, excluded); diff != "" {
		t.Errorf("excluded (-want +got):\n%s", diff)
	}

	out, _, _ := run(t, "", append([]string{"check", "--skip-signatures", "--skip-image-config"}, args...)...)
	if want := "2 objects not evaluated: namespaces kube-system, platform-sealgate are excluded by the webhook configuration"; !strings.Contains(out, want) {
		t.Errorf("text output lacks %q:\n%s", want, out)
	}

	rep = checkJSON(t, ExitDenied, append(args, "--include-excluded")...)
	if len(rep.Results) != 3 || len(rep.Excluded) != 0 {
		t.Errorf("with --include-excluded: %v, excluded %v; want all three evaluated", rep.paths(), rep.Excluded)
	}
	for _, r := range rep.Results {
		if r.Allowed {
			t.Errorf("%s/%s admitted with --include-excluded", r.Namespace, r.Name)
		}
	}
	// Only the excluded objects: nothing is denied.
	only := writeFiles(t, map[string]string{"pods.yaml": strings.SplitN(privilegedPods, "---\n", 2)[0]})
	checkJSON(t, ExitOK, "--policy", filepath.Join(dir, "policy.yaml"), "-f", filepath.Join(only, "pods.yaml"))
}

func deployment(replicas, image string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: ` + replicas + `
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: "` + image + `", securityContext: {privileged: true}}]
      volumes: [{name: scratch}]
`
}

// An UPDATE that leaves the pod spec as it was is admitted unevaluated, as the webhook does, so a
// workload that predates a policy can be scaled; one that changes it is evaluated; an object not in
// --old is evaluated as the CREATE applying it would be.
func TestCheckUpdate(t *testing.T) {
	other := strings.ReplaceAll(deployment("1", "busybox:1.37"), "name: web", "name: api")
	// The stored object is defaulted by the API server: --old may show the emptyDir the manifest
	// leaves out, and it is still the same pod spec.
	stored := strings.Replace(deployment("1", "busybox:1.37"), "[{name: scratch}]", "[{name: scratch, emptyDir: {}}]", 1)
	dir := writeFiles(t, map[string]string{"policy.yaml": `apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata: {name: no-privileged}
spec: {containers: {privileged: Forbid}}
`, "old.yaml": stored, "applied.yaml": deployment("1", "busybox:1.37"), "twice.yaml": stored + "---\n" + stored, "scale.yaml": deployment("3", "busybox:1.37"), "image.yaml": deployment("1", "busybox:1.36"),
		"new.yaml": other})
	policy := filepath.Join(dir, "policy.yaml")
	update := func(code int, file string) verdictReport {
		return checkJSON(t, code, "--policy", policy, "-f", filepath.Join(dir, file), "--operation", "UPDATE", "--old", filepath.Join(dir, "old.yaml"))
	}

	rep := update(ExitOK, "scale.yaml")
	if r := rep.Results[0]; !r.Allowed || r.Operation != "UPDATE" || !slices.Contains(r.Notes, unchangedNote) || len(r.Violations) != 0 {
		t.Errorf("scale: %+v; want admitted unevaluated", r)
	}
	// --old as last applied, with the sourceless volume: the same.
	rep = checkJSON(t, ExitOK, "--policy", policy, "-f", filepath.Join(dir, "scale.yaml"), "--operation", "UPDATE", "--old", filepath.Join(dir, "applied.yaml"))
	if r := rep.Results[0]; !r.Allowed || !slices.Contains(r.Notes, unchangedNote) {
		t.Errorf("scale against the applied manifest: %+v; want admitted unevaluated", r)
	}
	_, errOut, code := run(t, "", "check", "--policy", policy, "-f", filepath.Join(dir, "scale.yaml"), "--operation", "UPDATE", "--old", filepath.Join(dir, "twice.yaml"))
	if want := "Deployment shop/web is in --old twice"; code != ExitUsage || !strings.Contains(errOut, want) {
		t.Errorf("an object twice in --old: exit %d, stderr %q; want %d and %q", code, errOut, ExitUsage, want)
	}
	rep = update(ExitDenied, "image.yaml")
	if r := rep.Results[0]; r.Allowed || r.Operation != "UPDATE" || len(r.Notes) != 0 {
		t.Errorf("new image: %+v; want denied as an UPDATE", r)
	}
	rep = update(ExitDenied, "new.yaml")
	if r := rep.Results[0]; r.Allowed || r.Operation != "CREATE" {
		t.Errorf("object not in --old: %+v; want denied as a CREATE", r)
	}
	// Without --operation UPDATE the scale is a CREATE, and denied.
	rep = checkJSON(t, ExitDenied, "--policy", policy, "-f", filepath.Join(dir, "scale.yaml"))
	if r := rep.Results[0]; r.Allowed || r.Operation != "" {
		t.Errorf("scale as CREATE: %+v; want denied, with no operation field", r)
	}
}

func TestCheckOperationFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--old", "old.yaml"}, "--old needs --operation UPDATE"},
		{[]string{"--operation", "UPDATE"}, "--operation UPDATE needs --old FILE"},
		{[]string{"--operation", "UPDATE", "--old", "-"}, "--operation UPDATE needs --old FILE"},
		{[]string{"--operation", "DELETE"}, `--operation "DELETE": want CREATE or UPDATE`},
	} {
		_, errOut, code := run(t, "", append([]string{"check", "--policy", examplePolicies, "-f", exampleWorkloads}, tc.args...)...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, ExitUsage, tc.want)
		}
	}
}
