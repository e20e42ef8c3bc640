package policy_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/manifest"
	"github.com/sealgate/sealgate/pkg/policy"

	// The rules compile their own fields of a policy.
	_ "github.com/sealgate/sealgate/pkg/rules"
)

var update = flag.Bool("update", false, "rewrite golden files")

func names(ps []*policy.Policy) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func load(t *testing.T, paths ...string) []*policy.Policy {
	t.Helper()
	ps, err := policy.LoadPaths(paths, nil)
	if err != nil {
		t.Fatalf("LoadPaths(%v): %v", paths, err)
	}
	return ps
}

func TestLoadMultiDocument(t *testing.T) {
	ps := load(t, "testdata/valid/multi.yaml")
	if diff := cmp.Diff([]string{"production", "resources", "signed"}, names(ps)); diff != "" {
		t.Fatalf("policies (-want +got):\n%s", diff)
	}
	prod, res, signed := ps[0], ps[1], ps[2]

	if prod.Mode != v1alpha1.ModeEnforce || prod.NamespaceSelector == nil || prod.NamespaceSelector.String() != "env=prod" ||
		prod.ObjectSelector != nil || !cmp.Equal(prod.ExcludeNamespaces, []string{"kube-system"}) {
		t.Errorf("production match: mode %s, namespaceSelector %v, objectSelector %v, exclude %v",
			prod.Mode, prod.NamespaceSelector, prod.ObjectSelector, prod.ExcludeNamespaces)
	}
	if im := prod.Source.Spec.Images; im == nil || len(im.AllowedRegistries) != 2 || !im.DisallowLatestTag || im.RequireDigest {
		t.Errorf("production images: %+v", im)
	}
	if got := prod.Source.Spec.PodSecurity; got == nil || got.Level != "restricted" || got.Version != "latest" {
		t.Errorf("production podSecurity = %v, want restricted:latest", got)
	}

	if res.Mode != v1alpha1.ModeWarn || res.Source.Spec.Resources == nil {
		t.Fatalf("resources: %+v", res)
	}
	var bounds []string
	for n, q := range res.Source.Spec.Resources.MaxLimits {
		bounds = append(bounds, string(n)+"="+q.String())
	}
	slices.Sort(bounds)
	if diff := cmp.Diff([]string{"cpu=4", "memory=8Gi"}, bounds); diff != "" {
		t.Errorf("maxLimits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]corev1.ResourceName{"cpu", "memory"}, res.Source.Spec.Resources.RequireRequests); diff != "" {
		t.Errorf("requireRequests (-want +got):\n%s", diff)
	}

	if signed.Mode != v1alpha1.ModeAudit || len(signed.Signatures) != 1 {
		t.Fatalf("signed: %+v", signed)
	}
	rule := signed.Signatures[0].Rule
	if rule.Threshold != 1 || rule.Attestors[0].TransparencyLog != "Ignore" || rule.Attestors[1].TransparencyLog != "Require" {
		t.Errorf("signature defaults not applied: %+v", rule)
	}
}

func TestLoadLists(t *testing.T) {
	ps := load(t, "testdata/valid/list.yaml", "testdata/valid/kubectl-list.json")
	if diff := cmp.Diff([]string{"list-one", "list-two", "from-kubectl"}, names(ps)); diff != "" {
		t.Fatalf("policies (-want +got):\n%s", diff)
	}
	if c := ps[0].Source.Spec.Containers; c == nil || c.Privileged != v1alpha1.Forbidden || c.RunAsRoot != v1alpha1.Forbidden ||
		c.AllowPrivilegeEscalation == v1alpha1.Forbidden || c.Capabilities == nil || !c.Capabilities.RequireDropAll ||
		!cmp.Equal(c.Capabilities.AllowedAdd, []corev1.Capability{"NET_BIND_SERVICE"}) {
		t.Errorf("list-one containers: %+v", c)
	}
	if im := ps[1].Source.Spec.Images; ps[1].Mode != v1alpha1.ModeAudit || im == nil || !im.RequireDigest {
		t.Errorf("list-two: %+v", ps[1])
	}
	if ps[2].Generation != 7 || !cmp.Equal(*ps[2].Source.Spec.PodSecurity, v1alpha1.PodSecurity{Level: "baseline", Version: "v1.30"}) {
		t.Errorf("from-kubectl: generation %d, podSecurity %v", ps[2].Generation, ps[2].Source.Spec.PodSecurity)
	}
}

// TestLoadBackToBackJSON: every policy of a file of JSON objects back to back (what `jq -c` and
// `yq -o=json` print) is loaded. The Enforce policy comes second: a reader that stops after the
// first object would leave it silently out of force.
func TestLoadBackToBackJSON(t *testing.T) {
	for _, name := range []string{"testdata/valid/back-to-back.json", "testdata/valid/jq-c.json"} {
		t.Run(filepath.Base(name), func(t *testing.T) {
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fromStdin, err := policy.LoadPaths([]string{"-"}, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, ps := range [][]*policy.Policy{load(t, name), fromStdin} {
				if diff := cmp.Diff([]string{"report", "enforce-baseline"}, names(ps)); diff != "" {
					t.Fatalf("policies (-want +got):\n%s", diff)
				}
				if ps[1].Mode != v1alpha1.ModeEnforce || !cmp.Equal(*ps[1].Source.Spec.PodSecurity, v1alpha1.PodSecurity{Level: "baseline", Version: "latest"}) {
					t.Errorf("second policy: mode %s, podSecurity %v", ps[1].Mode, ps[1].Source.Spec.PodSecurity)
				}
			}
		})
	}
}

// A directory is read recursively, in lexical order of the paths, and only .yaml, .yml and .json files.
func TestLoadDirectory(t *testing.T) {
	ps := load(t, "testdata/dir")
	if diff := cmp.Diff([]string{"first", "first-b", "second", "third"}, names(ps)); diff != "" {
		t.Errorf("policies (-want +got):\n%s", diff)
	}
	// The same files named one by one, out of order, load in the order named.
	ps = load(t, "testdata/dir/sub/30-third.json", "testdata/dir/10-first.yml")
	if diff := cmp.Diff([]string{"third", "first", "first-b"}, names(ps)); diff != "" {
		t.Errorf("policies (-want +got):\n%s", diff)
	}
}

func TestLoadStdin(t *testing.T) {
	f, err := os.Open("testdata/valid/list.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ps, err := policy.LoadPaths([]string{"-", "testdata/dir/20-second.yaml"}, f)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"list-one", "list-two", "second"}, names(ps)); diff != "" {
		t.Errorf("policies (-want +got):\n%s", diff)
	}
}

// whereRE is how every error starts: the file and the document (and the List item).
var whereRE = regexp.MustCompile(`^testdata/[^:]+: document [0-9]+(, item [0-9]+)?: `)

// TestLoadErrors loads broken files and compares the whole error text with a golden file. Every
// error names its file and document; field errors follow on indented lines, one per field.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name  string
		paths []string
	}{
		{"invalid", []string{"testdata/invalid/invalid.yaml"}},
		{"unknown-field", []string{"testdata/invalid/unknown-field.yaml"}},
		{"duplicate-field", []string{"testdata/invalid/duplicate-field.yaml"}},
		{"duplicate-key-json", []string{"testdata/invalid/duplicate-key.json"}},
		{"wrong-kind", []string{"testdata/invalid/wrong-kind.yaml"}},
		{"odd-shapes", []string{"testdata/invalid/odd-shapes.yaml"}},
		{"not-objects", []string{"testdata/invalid/not-objects.yaml"}},
		{"duplicate-name", []string{"testdata/duplicate"}},
		{"several-files", []string{"testdata/invalid/wrong-kind.yaml", "testdata/valid/multi.yaml",
			"testdata/invalid/invalid.yaml", "testdata/invalid/unknown-field.yaml", "testdata/dir"}},
		{"same-file-twice", []string{"testdata/dir/20-second.yaml", "testdata/dir/20-second.yaml"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps, err := policy.LoadPaths(c.paths, nil)
			if err == nil {
				t.Fatalf("loaded %v, want an error", names(ps))
			}
			if ps != nil {
				t.Errorf("loaded %v along with an error: nothing may load if anything is wrong", names(ps))
			}
			got := err.Error() + "\n"
			for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
				if !strings.HasPrefix(line, "  ") && !whereRE.MatchString(line) {
					t.Errorf("error line does not name its file and document: %q", line)
				}
			}
			golden(t, filepath.Join("testdata", "golden", c.name+".txt"), got)
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s\nrun go test ./pkg/policy/ -update if the change is intended", path, diff)
	}
}

// An invalid policy reports every invalid field at once, as a list a program can read.
func TestInvalidErrorFields(t *testing.T) {
	docs, _, err := manifest.ReadPaths([]string{"testdata/invalid/invalid.yaml"}, nil)
	if err != nil || len(docs) != 1 {
		t.Fatalf("ReadPaths: %v, %d documents", err, len(docs))
	}
	_, err = policy.Decode(docs[0].APIVersion, docs[0].Kind, docs[0].JSON)
	var inv *policy.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("error %T %v, want *policy.InvalidError", err, err)
	}
	var fields []string
	for _, e := range inv.Errs {
		fields = append(fields, e.Field)
	}
	want := []string{
		"metadata.name", "metadata.namespace", "spec.mode", "spec.match.excludeNamespaces[1]",
		"spec.images.allowedRegistries[2]", "spec.images.allowedRegistries[3]", "spec.images.allowedRegistries[4]",
		"spec.signatures[0].images", "spec.signatures[0].threshold", "spec.signatures[0].attestors[0].publicKey",
		"spec.signatures[0].attestors[1].name", "spec.signatures[0].attestors[1].keyless.subjectRegExp",
		"spec.signatures[0].attestors[1].transparencyLog",
		"spec.signatures[0].attestors[1].trustedRootRef", "spec.podSecurity.level", "spec.podSecurity.version",
		"spec.containers.privileged", "spec.containers.readOnlyRootFilesystem",
		"spec.resources.requireRequests[1]", "spec.resources.maxLimits[cpu]", "spec.resources.maxLimits[memory]",
		"spec.resources.maxLimitRequestRatio[cpu]",
		// The rules' own fields follow, as each rule validates them while it compiles.
		"spec.containers.capabilities.allowedAdd[0]", "spec.containers.capabilities.allowedAdd[1]",
	}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("invalid fields (-want +got):\n%s", diff)
	}
	if inv.Name != "Bad_Name" || len(inv.Unknown) != 0 {
		t.Errorf("name %q, unknown fields %v", inv.Name, inv.Unknown)
	}
	if got, want := inv.Errs[4].Error(), `spec.images.allowedRegistries[2]: Invalid value: "acme-*": invalid pattern: `; !strings.HasPrefix(got, want) {
		t.Errorf("error = %q, want prefix %q", got, want)
	}
}

// JSON given to Decode directly (a policy read from the cluster, or a test) is decoded strictly too.
func TestDecodeStrictJSON(t *testing.T) {
	const gv, kind = "sealgate.dev/v1alpha1", "ClusterAdmissionPolicy"
	_, err := policy.Decode(gv, kind, []byte(`{"metadata":{"name":"j"},"spec":{"mode":"Audit","mode":"Enforce","images":{"requireDigest":true,"RequireDigest":false}}}`))
	var inv *policy.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("error %T %v, want *policy.InvalidError", err, err)
	}
	var got []string
	for _, e := range inv.Unknown {
		got = append(got, e.Error())
	}
	want := []string{`duplicate field "spec.mode"`, `unknown field "spec.images.RequireDigest"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("strict errors (-want +got):\n%s", diff)
	}
	if _, err := policy.Decode("sealgate.dev/v1", kind, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "expected sealgate.dev/v1alpha1 ClusterAdmissionPolicy") {
		t.Errorf("wrong apiVersion: %v", err)
	}
}

// Odd input yields errors or policies, never a panic.
func TestDecodeNeverPanics(t *testing.T) {
	for _, js := range oddPolicies {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Decode(%s) panicked: %v", js, r)
				}
			}()
			_, _ = policy.Decode("sealgate.dev/v1alpha1", "ClusterAdmissionPolicy", []byte(js))
		}()
	}
}

var oddPolicies = []string{
	``, `null`, `[]`, `{}`, `"x"`, `{"metadata":{"name":"a"}}`,
	`{"metadata":{"name":"a"},"spec":null}`,
	`{"metadata":{"name":"a"},"spec":{"signatures":[null]}}`,
	`{"metadata":{"name":"a"},"spec":{"signatures":[{"images":["**"],"attestors":[null,{}]}]}}`,
	`{"metadata":{"name":"a"},"spec":{"signatures":[{"images":[""],"threshold":-1,"attestors":[{"keyless":{}}]}]}}`,
	`{"metadata":{"name":"a"},"spec":{"resources":{"maxLimits":null,"maxLimitRequestRatio":{"cpu":null}}}}`,
	`{"metadata":{"name":"a"},"spec":{"resources":{"maxLimits":{"":"1","a/b/c":"1"}}}}`,
	`{"metadata":{"name":"a"},"spec":{"containers":{"capabilities":null}}}`,
	`{"metadata":{"name":"a"},"spec":{"containers":{"capabilities":{"allowedAdd":[""]}}}}`,
	`{"metadata":{"name":"a"},"spec":{"match":{"namespaceSelector":{"matchExpressions":[null]}}}}`,
	`{"metadata":{"name":"a"},"spec":{"match":{"objectSelector":{"matchExpressions":[{"key":"","operator":"In"}]}}}}`,
	`{"metadata":{"name":"a"},"spec":{"images":{"allowedRegistries":[]}}}`,
	`{"metadata":{"name":"a"},"spec":{"images":{"allowedRegistries":["","*","**","/","@","a:b"]}}}`,
	`{"metadata":{"name":"a"},"spec":{"podSecurity":{}}}`,
	`{"metadata":{"name":"a"},"spec":{"podSecurity":{"level":"restricted","version":"v1.999999999999999999999"}}}`,
	`{"metadata":{"name":"a"},"spec":{"mode":"enforce","extra":{"deep":[1,{"x":null}]}}}`,
}

func FuzzDecode(f *testing.F) {
	for _, s := range oddPolicies {
		f.Add([]byte(s))
	}
	for _, name := range []string{"testdata/valid/kubectl-list.json", "testdata/dir/sub/30-third.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, js []byte) {
		p, err := policy.Decode("sealgate.dev/v1alpha1", "ClusterAdmissionPolicy", js)
		if (p == nil) == (err == nil) {
			t.Fatalf("Decode returned policy %v and error %v", p, err)
		}
	})
}
