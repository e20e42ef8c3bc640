package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkInput runs the CLI with stdin and returns stdout, stderr and the exit code, failing the test
// if the command has not returned after a generous while (it asserts no timing, only that reading
// stops).
func checkInput(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	type result struct {
		out, err string
		code     int
	}
	done := make(chan result, 1)
	go func() {
		var out, errOut bytes.Buffer
		code := Execute(context.Background(), args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
		done <- result{out.String(), errOut.String(), code}
	}()
	select {
	case r := <-done:
		return r.out, r.err, r.code
	case <-time.After(2 * time.Minute):
		t.Fatalf("sealgate %s did not return: its input is read without bound", strings.Join(args, " "))
		return "", "", 0
	}
}

const (
	// inputAdmittedPod passes the example policies in namespace default.
	inputAdmittedPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"fine","namespace":"default"},"spec":{"containers":[{"name":"app","image":"registry.example.com/app:1.0"}]}}`
	// inputPrivilegedPod is denied by the example baseline policy (Enforce).
	inputPrivilegedPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"debug-shell","namespace":"default"},"spec":{"containers":[{"name":"shell","image":"busybox:1.37","securityContext":{"privileged":true}}]}}`
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckReadsEveryObject: a privileged pod after another object is checked and denied, however
// the objects are laid out. Before, everything after the first JSON object was dropped, with exit 0.
func TestCheckReadsEveryObject(t *testing.T) {
	for name, in := range map[string]string{
		"jq -c, one object per line": inputAdmittedPod + "\n" + inputPrivilegedPod + "\n",
		"no space between objects":   inputAdmittedPod + inputPrivilegedPod,
		"JSON, then YAML":            inputAdmittedPod + "\n---\n" + inputPrivilegedPod + "\n",
		"JSON List":                  `{"apiVersion":"v1","kind":"List","items":[` + inputAdmittedPod + "," + inputPrivilegedPod + "]}",
	} {
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{{"-f", "-"}, {"-f", writeFile(t, "in.json", in)}} {
				out, errOut, code := checkInput(t, in, append([]string{"check", "--policy", examplePolicies, "--skip-signatures"}, args...)...)
				if code != ExitDenied || !strings.Contains(out, "Pod default/debug-shell: DENIED") || !strings.Contains(out, "Pod default/fine: ADMITTED") {
					t.Errorf("check %v: exit %d, want %d with both pods\nstdout:\n%s\nstderr:\n%s", args, code, ExitDenied, out, errOut)
				}
			}
		})
	}
}

// TestCheckPolicySecondObject: an Enforce policy that is the second of back-to-back JSON objects in
// a --policy file is in force.
func TestCheckPolicySecondObject(t *testing.T) {
	policies := `{"apiVersion":"sealgate.dev/v1alpha1","kind":"ClusterAdmissionPolicy","metadata":{"name":"report"},"spec":{"mode":"Audit","images":{"requireDigest":true}}}` +
		`{"apiVersion":"sealgate.dev/v1alpha1","kind":"ClusterAdmissionPolicy","metadata":{"name":"enforce-baseline"},"spec":{"mode":"Enforce","podSecurity":{"level":"baseline","version":"latest"}}}`
	out, errOut, code := checkInput(t, inputPrivilegedPod, "check", "--policy", writeFile(t, "policies.json", policies), "-f", "-", "--skip-signatures")
	if code != ExitDenied || !strings.Contains(out, "[enforce-baseline/podSecurity.privileged]") {
		t.Errorf("exit %d, want %d by enforce-baseline\nstdout:\n%s\nstderr:\n%s", code, ExitDenied, out, errOut)
	}
}

// TestCheckInputBounds: an input without line ends or document ends fails fast with the size error
// instead of being read without bound.
func TestCheckInputBounds(t *testing.T) {
	inputs := map[string][]string{
		"stdin, one 9 MiB line": {"-f", "-"},
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		inputs["/dev/zero"] = []string{"-f", "/dev/zero"}
		inputs["/dev/zero as --policy"] = []string{"--policy", "/dev/zero", "-f", "-"}
	}
	stdin := `{"apiVersion":"v1","kind":"ConfigMap","data":{"a":"` + strings.Repeat("x", 9<<20) + `"}}`
	for name, args := range inputs {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(strings.Join(args, " "), "--policy") {
				args = append([]string{"--policy", examplePolicies}, args...)
			}
			out, errOut, code := checkInput(t, stdin, append([]string{"check"}, args...)...)
			if code != ExitUsage || !strings.Contains(errOut, ": document 1: line 1: larger than 8 MiB, the limit for one document") || out != "" {
				t.Errorf("exit %d, want %d with the size error\nstdout:\n%s\nstderr:\n%s", code, ExitUsage, out, errOut)
			}
		})
	}
}

// TestCheckDuplicateKeys: a workload's repeated key is read as the API server reads it (the last
// value wins) with a warning on stderr; a policy's is an error.
func TestCheckDuplicateKeys(t *testing.T) {
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: debug-shell, namespace: default}\nspec:\n  containers:\n  - name: shell\n    image: busybox:1.37\n" +
		"    securityContext:\n      privileged: false\n      privileged: true\n"
	out, errOut, code := checkInput(t, pod, "check", "--policy", examplePolicies, "-f", "-", "--skip-signatures")
	wantWarning := `warning: -: document 1: line 10: duplicate key "privileged"; the last value is used, as the API server reads it` + "\n"
	if code != ExitDenied || errOut != wantWarning || !strings.Contains(out, "securityContext.privileged") {
		t.Errorf("pod: exit %d, want %d (privileged: true wins)\nstdout:\n%s\nstderr:\n%s\nwant stderr:\n%s", code, ExitDenied, out, errOut, wantWarning)
	}

	policy := "apiVersion: sealgate.dev/v1alpha1\nkind: ClusterAdmissionPolicy\nmetadata: {name: twice}\nspec:\n  mode: Audit\n  mode: Enforce\n"
	p := writeFile(t, "policy.yaml", policy)
	out, errOut, code = checkInput(t, pod, "check", "--policy", p, "-f", "-", "--skip-signatures")
	wantErr := "error: " + p + `: document 1: line 6: duplicate key "mode": a policy file must not repeat a key` + "\n"
	if code != ExitUsage || errOut != wantErr || out != "" {
		t.Errorf("policy: exit %d, want %d\nstdout:\n%s\nstderr:\n%s\nwant stderr:\n%s", code, ExitUsage, out, errOut, wantErr)
	}
}

func writeFileAt(p, content string) error { return os.WriteFile(p, []byte(content), 0o644) }
