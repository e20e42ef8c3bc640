//go:build helm

package helm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// helmTimeout bounds one helm run.
const helmTimeout = 60 * time.Second

// scenario is one charts/sealgate/ci/<name>-values.yaml file.
type scenario struct {
	name   string
	values string   // path of the values file
	extra  []string // extra helm template arguments
}

// scenarios lists the ci values files. monitoring renders with the prometheus-operator API present, as
// a cluster that has it would.
func scenarios(t *testing.T) []scenario {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no ci values files in %s: %v", chartDir, err)
	}
	var out []scenario
	for _, f := range files {
		s := scenario{name: strings.TrimSuffix(filepath.Base(f), "-values.yaml"), values: f}
		if s.name == "monitoring" {
			s.extra = []string{"--api-versions", "monitoring.coreos.com/v1"}
		}
		out = append(out, s)
	}
	return out
}

// helm runs the real helm with its own configuration directories.
func helm(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, helmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, helmBin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"),
		"KUBECONFIG=/dev/null") // only an explicit --kubeconfig reaches a cluster
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// render runs helm template for the release "sealgate" in releaseNS and fails the test on error.
func render(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := helm(t.Context(), append([]string{"template", "sealgate", chartDir, "--namespace", releaseNS}, args...)...)
	if err != nil {
		t.Fatalf("helm template %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// renderScenario renders a ci scenario plus extra arguments.
func renderScenario(t *testing.T, s scenario, args ...string) string {
	t.Helper()
	return render(t, append(append([]string{"-f", s.values}, s.extra...), args...)...)
}

// manifests is a rendered chart, one object per document.
type manifests []map[string]any

func parse(t *testing.T, text string) manifests {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(text)))
	var out manifests
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatalf("rendered document is not YAML: %v\n%s", err, doc)
		}
		if obj != nil {
			out = append(out, obj)
		}
	}
}

func kindName(o map[string]any) (string, string) {
	kind, _ := o["kind"].(string)
	meta, _ := o["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	return kind, name
}

// kinds lists "Kind/name" of every object, sorted.
func (m manifests) kinds() []string {
	var out []string
	for _, o := range m {
		k, n := kindName(o)
		out = append(out, k+"/"+n)
	}
	sort.Strings(out)
	return out
}

// one decodes the only object of a kind into out (a typed API object), strictly: a field the type does
// not have is an error, so a misspelled field in a template fails here rather than being dropped by the
// API server.
func (m manifests) one(t *testing.T, kind string, out any) {
	t.Helper()
	var found []map[string]any
	for _, o := range m {
		if k, _ := kindName(o); k == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s, got %d (objects: %v)", kind, len(found), m.kinds())
	}
	decodeStrict(t, found[0], out)
}

// named decodes the object of a kind and name into out; it reports whether there was one.
func (m manifests) named(t *testing.T, kind, name string, out any) bool {
	t.Helper()
	for _, o := range m {
		if k, n := kindName(o); k == kind && n == name {
			decodeStrict(t, o, out)
			return true
		}
	}
	return false
}

func decodeStrict(t *testing.T, obj map[string]any, out any) {
	t.Helper()
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, out); err != nil {
		k, n := kindName(obj)
		t.Fatalf("%s/%s does not decode strictly into %T: %v", k, n, out, err)
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./test/helm -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs from the rendered chart (-want +got); if the change is intended, run go test ./test/helm -update:\n%s", path, diff)
	}
}

// exitCode is a command's exit status, or -1 if it did not run to completion.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
