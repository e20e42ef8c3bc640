//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/cli"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/pkg/workload"
	"github.com/sealgate/sealgate/test/cluster"
)

// pssFixture is one distinct upstream PSS fixture pod.
type pssFixture struct {
	Files []string // relative to the testdata directory: level/version/outcome/name.yaml
	Pod   map[string]any
}

// expect is the verdict upstream's file layout gives the fixture under a policy at level and the
// latest version: "" when no file of it is at the newest version.
func (fx *pssFixture) expect(level, newest string) verdict {
	var v verdict
	for _, f := range fx.Files {
		parts := strings.Split(f, string(filepath.Separator))
		if parts[1] != newest {
			continue
		}
		switch {
		case parts[2] == "fail" && (parts[0] == level || parts[0] == "baseline"):
			return denied
		case parts[2] == "pass" && (parts[0] == level || parts[0] == "restricted"):
			v = admitted
		}
	}
	return v
}

// pssFixtures reads the distinct pods k8s.io/pod-security-admission/test writes for every check,
// level and version (many versions repeat a pod; each is read once).
func pssFixtures(t *testing.T) []pssFixture {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/pod-security-admission")
	cmd.Dir = cluster.Root()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("locating k8s.io/pod-security-admission: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "test", "testdata")
	files, err := filepath.Glob(filepath.Join(dir, "*", "v1.*", "*", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no upstream fixtures under %s: %v", dir, err)
	}
	sort.Strings(files)
	seen := map[[32]byte]int{}
	var fixtures []pssFixture
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if i, ok := seen[sum]; ok {
			fixtures[i].Files = append(fixtures[i].Files, rel)
			continue
		}
		seen[sum] = len(fixtures)
		var pod map[string]any
		if err := yaml.Unmarshal(b, &pod); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		fixtures = append(fixtures, pssFixture{Files: []string{rel}, Pod: pod})
	}
	return fixtures
}

// newestVersion is the newest version directory among the fixtures ("v1.37").
func newestVersion(fixtures []pssFixture) string {
	newest, minor := "", -1
	for _, fx := range fixtures {
		for _, f := range fx.Files {
			v := strings.Split(f, string(filepath.Separator))[1]
			if m, err := strconv.Atoi(strings.TrimPrefix(v, "v1.")); err == nil && m > minor {
				newest, minor = v, m
			}
		}
	}
	return newest
}

// wrap puts a fixture pod into kind k as name in ns, the way a chart would: the pod's metadata and
// spec become the template's, with the labels a controller's selector needs and the restart
// policy a Job needs. The object is the same for the API server and for check.
func wrap(k workload.Kind, fx pssFixture, ns, name string) map[string]any {
	podMeta, _ := fx.Pod["metadata"].(map[string]any)
	spec := deepCopy(fx.Pod["spec"]).(map[string]any)
	labels := map[string]any{"verdict": name}
	if l, ok := podMeta["labels"].(map[string]any); ok {
		for k, v := range l {
			labels[k] = v
		}
	}
	meta := map[string]any{"labels": labels}
	if a, ok := podMeta["annotations"]; ok {
		meta["annotations"] = deepCopy(a)
	}
	template := map[string]any{"metadata": meta, "spec": spec}
	selector := map[string]any{"matchLabels": map[string]any{"verdict": name}}
	obj := map[string]any{"apiVersion": k.GVK.GroupVersion().String(), "kind": k.GVK.Kind,
		"metadata": map[string]any{"name": name, "namespace": ns}}
	switch k.GVK.Kind {
	case "Pod":
		obj["metadata"].(map[string]any)["labels"] = labels
		if a, ok := meta["annotations"]; ok {
			obj["metadata"].(map[string]any)["annotations"] = a
		}
		obj["spec"] = spec
	case "PodTemplate":
		obj["template"] = template
	case "Job":
		spec["restartPolicy"] = "Never"
		obj["spec"] = map[string]any{"template": template}
	case "CronJob":
		spec["restartPolicy"] = "Never"
		obj["spec"] = map[string]any{"schedule": "0 0 * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": template}}}
	case "ReplicationController":
		obj["spec"] = map[string]any{"selector": map[string]any{"verdict": name}, "template": template}
	case "StatefulSet":
		obj["spec"] = map[string]any{"selector": selector, "serviceName": name, "template": template}
	default: // Deployment, ReplicaSet, DaemonSet
		obj["spec"] = map[string]any{"selector": selector, "template": template}
	}
	return obj
}

func deepCopy(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// verdict is one object's fate: admitted, denied by sealgate, or rejected by the API server
// before sealgate was asked (invalid).
type verdict string

const (
	admitted verdict = "admitted"
	denied   verdict = "denied"
	invalid  verdict = "invalid"
)

// clusterVerdicts creates every object with dryRun=All through the API server, which runs its
// defaulting and validation and then sealgate's webhook, and records what it answered.
func clusterVerdicts(t *testing.T, objs []map[string]any) map[string]verdict {
	out, _ := clusterVerdictsWhy(t, objs)
	return out
}

// clusterVerdictsWhy is clusterVerdicts with the API server's message for each invalid object.
func clusterVerdictsWhy(t *testing.T, objs []map[string]any) (map[string]verdict, map[string]string) {
	t.Helper()
	out := make(map[string]verdict, len(objs))
	why := map[string]string{}
	var mu sync.Mutex
	work := make(chan map[string]any)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for obj := range work {
				u := &unstructured.Unstructured{Object: deepCopy(obj).(map[string]any)}
				v, err := createVerdict(t.Context(), u)
				mu.Lock()
				out[objectID(obj)] = v
				if v == invalid {
					why[objectID(obj)] = err.Error()
				}
				mu.Unlock()
				if v != invalid && err != nil {
					t.Errorf("%s: %v", objectID(obj), err)
				}
			}
		}()
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	return out, why
}

func createVerdict(ctx context.Context, u *unstructured.Unstructured) (verdict, error) {
	err := env.Client.Create(ctx, u, client.DryRunAll)
	switch {
	case err == nil:
		return admitted, nil
	case strings.Contains(err.Error(), `admission webhook "`+webhookconfig.WorkloadWebhook+`" denied the request`):
		return denied, nil
	case apierrors.IsInvalid(err):
		return invalid, err
	}
	return "", err
}

// checkVerdicts runs `sealgate check` offline over objs (and the namespaces they are in) and
// returns its verdicts and its JSON report.
func checkVerdicts(t *testing.T, policies string, objs []map[string]any, extra ...string) (map[string]verdict, map[string]any) {
	t.Helper()
	dir := t.TempDir()
	pfile := filepath.Join(dir, "policies.yaml")
	if err := os.WriteFile(pfile, []byte(policies), 0o600); err != nil {
		t.Fatal(err)
	}
	mfile := filepath.Join(dir, "manifests.yaml")
	writeManifests(t, mfile, objs)
	args := append([]string{"check", "--policy", pfile, "-f", mfile, "-o", "json", "--skip-signatures", "--skip-image-config"}, extra...)
	var stdout, stderr bytes.Buffer
	code := cli.Execute(t.Context(), args, cli.IO{In: strings.NewReader(""), Out: &stdout, Err: &stderr})
	if code != 0 && code != 1 {
		t.Fatalf("sealgate check exited %d: %s", code, stderr.String())
	}
	var rep struct {
		Results []struct {
			Kind, Namespace, Name string
			Allowed               bool
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("check output: %v\n%s", err, stdout.String())
	}
	out := map[string]verdict{}
	for _, r := range rep.Results {
		v := denied
		if r.Allowed {
			v = admitted
		}
		out[r.Kind+"/"+r.Namespace+"/"+r.Name] = v
	}
	var raw map[string]any
	_ = json.Unmarshal(stdout.Bytes(), &raw)
	return out, raw
}

func writeManifests(t *testing.T, file string, objs []map[string]any) {
	t.Helper()
	var b bytes.Buffer
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func namespaceObject(name string, labels map[string]any) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name, "labels": labels}}
}

func objectID(o map[string]any) string {
	m := o["metadata"].(map[string]any)
	ns, _ := m["namespace"].(string)
	return o["kind"].(string) + "/" + ns + "/" + m["name"].(string)
}

func clientKey(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

// updateVerdict updates u with dryRun=All and records what the API server answered.
func updateVerdict(ctx context.Context, u *unstructured.Unstructured) (verdict, error) {
	err := env.Client.Update(ctx, u, client.DryRunAll)
	switch {
	case err == nil:
		return admitted, nil
	case strings.Contains(err.Error(), `admission webhook "`+webhookconfig.WorkloadWebhook+`" denied the request`):
		return denied, nil
	case apierrors.IsInvalid(err):
		return invalid, nil
	}
	return "", err
}
