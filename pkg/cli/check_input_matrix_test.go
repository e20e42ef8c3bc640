package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCheckInputMatrix: the exit status and the key message of every input with every input flag.
// Before, a bad file stopped the run with its error alone, empty input and skipped-only input exited
// 0, and removed API versions and pod specs in other kinds were skipped without a word.
func TestCheckInputMatrix(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := writeFileAt(p, content); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", inputAdmittedPod)
	bad := write("bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: broken\n")
	skippedOnly := write("skipped.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n")
	removed := write("removed.yaml", "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old, namespace: default}\n"+
		"spec:\n  template:\n    spec:\n      containers: [{name: app, image: registry.example.com/app:1.0}]\n")
	widget := write("widget.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"+
		"spec:\n  template:\n    spec:\n      containers: [{name: app, securityContext: {privileged: true}}]\n")

	type want struct {
		code int
		msg  string // in stdout or stderr
	}
	inputs := []struct {
		name  string
		stdin string
		files []string
		// want by flag: none, --continue-on-error, --allow-empty, --strict-kinds
		want [4]want
	}{
		{"back-to-back JSON", inputAdmittedPod + inputPrivilegedPod, []string{"-"}, [4]want{
			{ExitDenied, "Pod default/debug-shell: DENIED"},
			{ExitDenied, "Pod default/debug-shell: DENIED"},
			{ExitDenied, "Pod default/debug-shell: DENIED"},
			{ExitDenied, "Pod default/debug-shell: DENIED"},
		}},
		{"a bad file among good ones", "", []string{good, bad, good}, [4]want{
			{ExitUsage, "1 input could not be read"},
			{ExitUsage, "error  " + bad + ": document 1: line 3: yaml: did not find expected ',' or '}'"},
			{ExitUsage, "1 input could not be read"},
			{ExitUsage, "1 input could not be read"},
		}},
		{"empty stdin", "", []string{"-"}, [4]want{
			{ExitUsage, "no objects read: - held no Kubernetes object"},
			{ExitUsage, "no objects read"},
			{ExitOK, "0 objects checked"},
			{ExitUsage, "no objects read"},
		}},
		{"skipped kinds only", "", []string{skippedOnly}, [4]want{
			{ExitUsage, "no workloads checked: the 2 objects read are all of kinds sealgate does not check (ConfigMap 1, Service 1)"},
			{ExitUsage, "no workloads checked"},
			{ExitOK, "2 other objects skipped (ConfigMap 1, Service 1)"},
			{ExitUsage, "no workloads checked"},
		}},
		{"good file", "", []string{good}, [4]want{
			{ExitOK, "Pod default/fine: ADMITTED"},
			{ExitOK, "Pod default/fine: ADMITTED"},
			{ExitOK, "Pod default/fine: ADMITTED"},
			{ExitOK, "Pod default/fine: ADMITTED"},
		}},
		{"removed API version", "", []string{removed}, [4]want{
			{ExitOK, "apiVersion extensions/v1beta1 of Deployment was removed in Kubernetes 1.16"},
			{ExitOK, "Deployment default/old: ADMITTED"},
			{ExitOK, "write apiVersion: apps/v1"},
			{ExitUsage, "error  " + removed + ": document 1: line 1: apiVersion extensions/v1beta1 of Deployment was removed"},
		}},
		{"a pod spec in an unknown kind", "", []string{good, widget}, [4]want{
			{ExitOK, "warning: " + widget + ": document 1: line 1: example.com/v1 Widget has a pod spec at spec.template.spec, but sealgate does not check this kind: " +
				"it was skipped (--kind-pod-spec example.com/v1/Widget=spec.template.spec checks it; --strict-kinds makes this an error)"},
			{ExitOK, "example.com/Widget 1"},
			{ExitOK, "Pod default/fine: ADMITTED"},
			{ExitUsage, "(--strict-kinds)"},
		}},
	}
	flags := []string{"", "--continue-on-error", "--allow-empty", "--strict-kinds"}
	for _, in := range inputs {
		for i, flag := range flags {
			t.Run(in.name+"/"+strings.TrimPrefix(flag, "--"), func(t *testing.T) {
				args := []string{"check", "--policy", examplePolicies, "--skip-signatures", "--skip-image-config", "-f"}
				args = append(args, in.files...)
				if flag != "" {
					args = append(args, flag)
				}
				out, errOut, code := checkInput(t, in.stdin, args...)
				w := in.want[i]
				if code != w.code || !strings.Contains(out+errOut, w.msg) {
					t.Errorf("exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", code, w.code, w.msg, out, errOut)
				}
				if code == ExitUsage && flag != "--continue-on-error" && strings.Contains(errOut, "could not be read") && out != "" {
					t.Errorf("read errors without --continue-on-error printed a report:\n%s", out)
				}
			})
		}
	}
}

// TestCheckListsEveryError: every file and object that cannot be read is listed, not only the first,
// with or without --continue-on-error; with it, the JSON report carries them and the good objects'
// verdicts.
func TestCheckListsEveryError(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"a.yaml":     inputAdmittedPod,
		"b.yaml":     "apiVersion: v1\nkind: Pod\nspec: {containers: nope}\n---\n- a list\n---\napiVersion: v1\nkind: Namespace\nmetadata: {labels: {a: b}}\n",
		"c.json":     "{\"apiVersion\": \"v1\",\n \"kind\": [}",
		"Chart.yaml": "name: chart\nversion: 1.0.0\n",
	} {
		if err := writeFileAt(filepath.Join(dir, name), content); err != nil {
			t.Fatal(err)
		}
	}
	base := []string{"check", "--policy", examplePolicies, "--skip-signatures", "-f", dir, "--ignore", "Chart.yaml", "-f", filepath.Join(dir, "none-*.yaml")}
	wantErrs := []inputError{
		{File: filepath.Join(dir, "b.yaml"), Document: 2, Line: 5, Message: "not a Kubernetes object: the document is a list, not an object (kubectl does not read one either); write the objects one after another, or as the items of a List"},
		{File: filepath.Join(dir, "c.json"), Document: 1, Line: 2, Message: "json: invalid character '}' looking for beginning of value"},
		{File: filepath.Join(dir, "none-*.yaml"), Message: "no file matches this pattern"},
		{File: filepath.Join(dir, "b.yaml"), Document: 1, Line: 1, Message: `decoding Pod: json: cannot unmarshal JSON string into Go []v1.Container within "/spec/containers"`},
		{File: filepath.Join(dir, "b.yaml"), Document: 3, Line: 7, Message: "Namespace has no metadata.name"},
	}

	out, errOut, code := checkInput(t, "", base...)
	errOut = jsonModalVerb(errOut)
	var lines []string
	for _, e := range wantErrs {
		lines = append(lines, "error: "+e.String())
	}
	lines = append(lines, "error: 5 inputs could not be read; fix them, --ignore the files, or pass --continue-on-error to check the rest", "")
	if diff := cmp.Diff(strings.Join(lines, "\n"), errOut); code != ExitUsage || out != "" || diff != "" {
		t.Errorf("exit %d, want %d; stdout %q; stderr (-want +got):\n%s", code, ExitUsage, out, diff)
	}

	out, errOut, code = checkInput(t, "", append(base, "--continue-on-error", "-o", "json")...)
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if code != ExitUsage || len(rep.Results) != 1 || rep.Results[0].Name != "fine" || !strings.Contains(errOut, "error: 5 errors in the input, listed in the output") {
		t.Errorf("exit %d, want %d with the one good pod checked\nstdout:\n%s\nstderr:\n%s", code, ExitUsage, out, errOut)
	}
	for i := range rep.Errors {
		rep.Errors[i].Message = jsonModalVerb(rep.Errors[i].Message)
	}
	if diff := cmp.Diff(wantErrs, rep.Errors); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if r := rep.Results[0]; r.File != filepath.Join(dir, "a.yaml") || r.Document != 1 || r.Line != 1 || r.Column != 1 {
		t.Errorf("location %s %d %d:%d, want a.yaml 1 1:1", r.File, r.Document, r.Line, r.Column)
	}
}

// TestCheckSeveralFiles: -f takes the files after it, as the shell expands a glob, and a quoted glob
// is expanded by check itself.
func TestCheckSeveralFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	for p, c := range map[string]string{a: inputAdmittedPod, b: inputPrivilegedPod} {
		if err := writeFileAt(p, c); err != nil {
			t.Fatal(err)
		}
	}
	for name, files := range map[string][]string{
		"-f a b":     {"-f", a, b},
		"-f 'dir/*'": {"-f", filepath.Join(dir, "*.yaml")},
		"a -f b":     {a, "-f", b},
	} {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := checkInput(t, "", append([]string{"check", "--policy", examplePolicies, "--skip-signatures"}, files...)...)
			if code != ExitDenied || !strings.Contains(out, "Pod default/fine: ADMITTED") || !strings.Contains(out, "Pod default/debug-shell: DENIED") {
				t.Errorf("exit %d, want %d with both pods\nstdout:\n%s\nstderr:\n%s", code, ExitDenied, out, errOut)
			}
		})
	}
	_, errOut, code := checkInput(t, "", "check", "--policy", examplePolicies, "-f", a, "--ignore", "[")
	if code != ExitUsage || !strings.Contains(errOut, `--ignore "[": syntax error in pattern`) {
		t.Errorf("bad --ignore: exit %d, stderr %q", code, errOut)
	}
}

// jsonModalVerb undoes json v2's random choice between "cannot" and "unable to" in its errors
// (go-json-experiment errors.go: it varies on purpose, so that nobody depends on the text).
func jsonModalVerb(s string) string {
	return strings.ReplaceAll(s, "json: unable to ", "json: cannot ")
}
