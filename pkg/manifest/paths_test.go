package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestColumns: a document knows the line and column where it starts, for CI annotations.
func TestColumns(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want []string // "line:column kind"
	}{
		"YAML":                    {"# c\n  apiVersion: v1\n  kind: A\n---\napiVersion: v1\nkind: B\n", []string{"2:3 A", "5:1 B"}},
		"JSON on one line":        {obj("A") + " " + obj("B") + obj("C"), []string{"1:1 A", "1:32 B", "1:62 C"}},
		"indented JSON":           {"\n   " + obj("A") + "\n\t" + obj("B"), []string{"2:4 A", "3:2 B"}},
		"JSON across lines":       {"{\"apiVersion\":\"v1\",\n\"kind\":\"A\"}  " + obj("B"), []string{"1:1 A", "2:14 B"}},
		"non-ASCII counts a rune": {`{"apiVersion":"v1","kind":"A","é":1}` + obj("B"), []string{"1:1 A", "1:37 B"}},
	} {
		t.Run(name, func(t *testing.T) {
			docs, _, err := Read("in", strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range docs {
				got = append(got, fmt.Sprintf("%d:%d %s", d.Line, d.Column, d.Kind))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// TestReadAllKeepsGoing: ReadAll lists every error and reads on past a bad document where the input
// can be split without it, and past a bad file; Read still stops at the first.
func TestReadAllKeepsGoing(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	yamlBad := write("a.yaml", "apiVersion: v1\nkind: A\n---\nkind: [\n---\napiVersion: v1\n---\napiVersion: v1\nkind: D\n")
	jsonBad := write("b.json", obj("E")+"\n[1]\n"+obj("F")+"\n{\"kind\": oops}\n"+obj("G"))
	good := write("c.yaml", "apiVersion: v1\nkind: H\n")
	in := ReadAll([]string{yamlBad, filepath.Join(dir, "missing.yaml"), jsonBad, filepath.Join(dir, "none-*.yaml"), good}, nil, Options{})
	var docs, errs []string
	for _, d := range in.Docs {
		docs = append(docs, fmt.Sprintf("%s %d %s", filepath.Base(d.Source), d.Index, d.Kind))
	}
	for _, e := range in.Errors {
		errs = append(errs, strings.ReplaceAll(e.Error(), dir+string(filepath.Separator), ""))
	}
	wantDocs := []string{"a.yaml 1 A", "a.yaml 4 D", "b.json 1 E", "b.json 3 F", "c.yaml 1 H"}
	wantErrs := []string{
		"a.yaml: document 2: line 4: yaml: did not find expected node content",
		"a.yaml: document 3: line 6: not a Kubernetes object: apiVersion and kind are required",
		"missing.yaml: no such file or directory",
		"b.json: document 2: line 2: not a Kubernetes object: the document is a list, not an object (kubectl does not read one either); write the objects one after another, or as the items of a List",
		"b.json: document 4: line 4: json: invalid character 'o' looking for beginning of value (after two JSON values the stream is read as JSON only, as kubectl reads it)",
		"none-*.yaml: no file matches this pattern",
	}
	if diff := cmp.Diff(wantDocs, docs); diff != "" {
		t.Errorf("documents (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(wantErrs, errs); diff != "" {
		t.Errorf("errors (-want +got)\n%s", diff)
	}
	if _, _, err := ReadPaths([]string{yamlBad}, nil); err == nil || !strings.Contains(err.Error(), "document 2") {
		t.Errorf("ReadPaths: %v, want the first error only", err)
	}
}

// TestReadAllGlobAndIgnore: a pattern is expanded, and --ignore patterns match a path whole or by a
// trailing part, in directories walked and in glob matches alike.
func TestReadAllGlobAndIgnore(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"chart/Chart.yaml", "chart/values.yaml", "chart/templates/deploy.yaml", "chart/crds/crd.yaml", "out/a.yaml", "out/b.yaml", "out/c.json"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(obj(filepath.Base(f))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		paths, ignore []string
		want          []string
	}{
		"glob":                      {[]string{"out/*.yaml"}, nil, []string{"out/a.yaml", "out/b.yaml"}},
		"glob of directories":       {[]string{"*"}, []string{"*/templates/*", "Chart.yaml", "crds", "out"}, []string{"chart/values.yaml"}},
		"ignore by base name":       {[]string{"chart"}, []string{"Chart.yaml", "values.yaml"}, []string{"chart/crds/crd.yaml", "chart/templates/deploy.yaml"}},
		"ignore by trailing part":   {[]string{"chart", "out/c.json"}, []string{"*/templates/*", "crds/*", "Chart.yaml"}, []string{"chart/values.yaml", "out/c.json"}},
		"ignore a glob match":       {[]string{"out/*"}, []string{"*.json"}, []string{"out/a.yaml", "out/b.yaml"}},
		"an existing path is taken": {[]string{"out/a.yaml"}, nil, []string{"out/a.yaml"}},
	} {
		t.Run(name, func(t *testing.T) {
			var paths []string
			for _, p := range tc.paths {
				paths = append(paths, filepath.Join(dir, p))
			}
			in := ReadAll(paths, nil, Options{Ignore: tc.ignore})
			if len(in.Errors) > 0 {
				t.Fatal(in.Errors)
			}
			var got []string
			for _, d := range in.Docs {
				rel, _ := filepath.Rel(dir, d.Source)
				got = append(got, filepath.ToSlash(rel))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
	in := ReadAll([]string{filepath.Join(dir, "out/*.yaml")}, nil, Options{Ignore: []string{"out/*"}})
	if len(in.Errors) != 1 || !strings.Contains(in.Errors[0].Error(), "--ignore matches every file") {
		t.Errorf("everything ignored: %v, want an error", in.Errors)
	}
	if err := ValidPattern("[a"); err == nil {
		t.Error("ValidPattern([a): nil, want an error")
	}
}
