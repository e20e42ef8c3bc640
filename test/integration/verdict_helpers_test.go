//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/internal/pssfixtures"
	"github.com/sealgate/sealgate/pkg/cli"
	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/pkg/workload"
	"github.com/sealgate/sealgate/test/cluster"
)

// pssFixture is one distinct upstream PSS fixture pod.
type pssFixture = pssfixtures.Fixture

// expectVerdict is the verdict upstream's file layout gives the fixture under a policy at level and
// the latest version: "" when no file of it is at the newest version.
func expectVerdict(fx *pssFixture, level, newest string) verdict {
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

// pssFixtures reads the distinct upstream fixture pods (pssfixtures.Load).
func pssFixtures(t *testing.T) []pssFixture {
	t.Helper()
	fixtures, err := pssfixtures.Load(cluster.Root())
	if err != nil {
		t.Fatal(err)
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

// wrap puts a fixture pod into kind k as name in ns (pssfixtures.Wrap).
func wrap(k workload.Kind, fx pssFixture, ns, name string) map[string]any {
	return pssfixtures.Wrap(k, fx.Pod, ns, name)
}

func deepCopy(v any) any { return pssfixtures.DeepCopy(v) }

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
