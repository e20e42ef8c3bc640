package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const customKindsDir = "testdata/customkinds"

// finding is one violation as check reports it, without its message.
type finding struct{ Kind, Name, Rule, Path string }

// checkFindings runs check with args and returns its findings, sorted, and the objects skipped.
func checkFindings(t *testing.T, stdin string, wantCode int, args ...string) ([]finding, int) {
	t.Helper()
	args = append([]string{"check", "--skip-signatures", "--skip-image-config", "-o", "json"}, args...)
	out, errOut, code := run(t, stdin, args...)
	if code != wantCode {
		t.Fatalf("exit %d, want %d; stderr: %s", code, wantCode, errOut)
	}
	var rep struct {
		Results []struct {
			Kind, Name string
			Violations []struct{ Rule, Path string }
		}
		SkippedObjects int
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got []finding
	for _, r := range rep.Results {
		for _, v := range r.Violations {
			got = append(got, finding{r.Kind, r.Name, v.Rule, v.Path})
		}
	}
	slices.SortFunc(got, func(a, b finding) int {
		return strings.Compare(a.Kind+a.Name+a.Path+a.Rule, b.Kind+b.Name+b.Path+b.Rule)
	})
	return got, rep.SkippedObjects
}

// The Prometheus Operator's kinds hold pod spec fields directly under spec: each finding names the
// custom resource's own field, an entry patching a generated container is not judged alone, and
// the entries after it keep their indexes. A Rollout is judged at spec.template.spec.
func TestCheckCustomKindsAtTheirFieldPaths(t *testing.T) {
	got, skipped := checkFindings(t, "", ExitDenied, "--policy", customKindsDir+"/policy.yaml",
		"-f", customKindsDir+"/prometheus.yaml", "-f", customKindsDir+"/alertmanager.yaml", "-f", customKindsDir+"/rollout.yaml")
	want := []finding{
		{"Alertmanager", "main", "podSecurity.runAsNonRoot", "spec.securityContext.runAsNonRoot"},
		{"Prometheus", "k8s", "images.disallowLatestTag", "spec.containers[1].image"},
		{"Prometheus", "k8s", "podSecurity.allowPrivilegeEscalation", "spec.containers[1].securityContext.allowPrivilegeEscalation"},
		{"Prometheus", "k8s", "podSecurity.capabilities_restricted", "spec.containers[1].securityContext.capabilities.drop"},
		{"Prometheus", "k8s", "containers.privileged", "spec.containers[1].securityContext.privileged"},
		{"Prometheus", "k8s", "podSecurity.hostNamespaces", "spec.hostNetwork"},
		{"Prometheus", "k8s", "podSecurity.restrictedVolumes", "spec.volumes[0].hostPath"},
		{"Rollout", "web", "podSecurity.allowPrivilegeEscalation", "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation"},
		{"Rollout", "web", "podSecurity.capabilities_restricted", "spec.template.spec.containers[0].securityContext.capabilities.drop"},
		{"Rollout", "web", "containers.privileged", "spec.template.spec.containers[0].securityContext.privileged"},
		{"Rollout", "web", "podSecurity.runAsNonRoot", "spec.template.spec.securityContext.runAsNonRoot"},
		{"Rollout", "web", "podSecurity.seccompProfile_restricted", "spec.template.spec.securityContext.seccompProfile.type"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	// The Rollout with spec.workloadRef has no pod template.
	if skipped != 1 {
		t.Errorf("skipped %d objects, want 1 (the Rollout with workloadRef)", skipped)
	}
}

// --kind-pod-spec names a pod spec (spec.podSpec) or a pod template (spec.template) of a kind sealgate
// does not know, and its findings name the kind's own fields.
func TestCheckKindPodSpecFlag(t *testing.T) {
	const objs = `apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: apps}
spec:
  podSpec:
    containers:
    - name: a
      image: nginx:1.27
    - name: b
      image: nginx:latest
---
apiVersion: example.com/v1beta1
kind: Gadget
metadata: {name: g, namespace: apps}
spec:
  template:
    metadata: {labels: {app: g}}
    spec:
      hostPID: true
      containers:
      - name: a
        image: nginx:latest
`
	policy := customKindsDir + "/policy.yaml"
	// Without the flag, both kinds are unknown and skipped: nothing is checked (which is exit 2 unless
	// --allow-empty).
	got, skipped := checkFindings(t, objs, ExitOK, "--policy", policy, "-f", "-", "--allow-empty")
	if len(got) != 0 || skipped != 2 {
		t.Fatalf("without --kind-pod-spec: findings %v, skipped %d; want none and 2", got, skipped)
	}
	got, _ = checkFindings(t, objs, ExitDenied, "--policy", policy, "-f", "-",
		"--kind-pod-spec", "example.com/v1/Widget=spec.podSpec", "--kind-pod-spec", "example.com/v1beta1/Gadget=spec.template")
	paths := map[string]bool{}
	for _, f := range got {
		paths[f.Kind+" "+f.Path] = true
	}
	for _, want := range []string{
		"Widget spec.podSpec.containers[1].image",
		"Widget spec.podSpec.securityContext.runAsNonRoot",
		"Gadget spec.template.spec.hostPID",
		"Gadget spec.template.spec.containers[0].image",
	} {
		if !paths[want] {
			t.Errorf("no finding at %q; got %v", want, got)
		}
	}
	if paths["Widget spec.podSpec.containers[0].image"] {
		t.Errorf("a finding at the pinned image of container a: %v", got)
	}
}

func TestCheckKindPodSpecFlagErrors(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"example.com/v1/Widget", "want GROUP/VERSION/KIND=PATH"},
		{"Widget=spec.podSpec", "want GROUP/VERSION/KIND"},
		{"v1/Widget=spec", "with all three"},
		{"apps/v1/Deployment=spec.template", "built-in kind"},
		{"example.com/v1/Widget=spec..podSpec", "dotted path"},
		{"example.com/v1/Widget=spec.containers[0]", "dotted path"},
		{"example.com/v1/Widget=status.podSpec", "not under status"},
	} {
		_, errOut, code := run(t, "", "check", "--policy", customKindsDir+"/policy.yaml", "-f", customKindsDir, "--kind-pod-spec", tc.value)
		if code != ExitUsage || !strings.Contains(errOut, "--kind-pod-spec") || !strings.Contains(errOut, tc.want) {
			t.Errorf("--kind-pod-spec %s: exit %d, stderr %q; want exit %d and %q", tc.value, code, errOut, ExitUsage, tc.want)
		}
	}
}

// TestCheckSaysWhichPatchEntriesItSkips: the entries of a Prometheus Operator object that patch the
// operator's own containers are not evaluated, and the result says so, naming each, rather than
// leaving them out without a word.
func TestCheckSaysWhichPatchEntriesItSkips(t *testing.T) {
	out, errOut, code := run(t, "", "check", "--skip-signatures", "--skip-image-config", "-o", "json",
		"--policy", customKindsDir+"/policy.yaml", "-f", customKindsDir+"/prometheus.yaml", "-f", customKindsDir+"/alertmanager.yaml")
	if code != ExitDenied {
		t.Fatalf("exit %d; stderr: %s", code, errOut)
	}
	var rep struct {
		Results []struct {
			Kind  string
			Notes []string
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Prometheus":   `not judged: spec.containers[0] ("prometheus"), spec.initContainers[0] ("init-config-reloader") patch containers the operator generates`,
		"Alertmanager": `("config-reloader") patch containers the operator generates`,
	}
	for _, r := range rep.Results {
		if w, ok := want[r.Kind]; ok {
			if !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, w) }) {
				t.Errorf("%s notes %q lack %q", r.Kind, r.Notes, w)
			}
			delete(want, r.Kind)
		}
	}
	if len(want) > 0 {
		t.Errorf("no result for %v", want)
	}
}
