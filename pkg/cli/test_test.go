package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const suites = "testdata/suites"

// TestTestShippedSuite runs the suite of examples/ that `make test` runs: every example gets the
// verdict it is written to get, the node agent with and without its exception.
func TestTestShippedSuite(t *testing.T) {
	out, errOut, code := run(t, "", "test", "../../examples")
	if code != ExitOK {
		t.Fatalf("exit %d, want 0; stderr: %s\n%s", code, errOut, out)
	}
	// 8 example workloads, and the node agent again with its exception.
	if !strings.Contains(out, "\n9 results: 9 passed, 0 failed\n") {
		t.Errorf("want every example covered and passing:\n%s", out)
	}
}

func TestTestPassingSuite(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			out, errOut, code := run(t, "", "test", suites+"/pass", "-o", format)
			if code != ExitOK {
				t.Fatalf("exit %d, want 0; stderr: %s\n%s", code, errOut, out)
			}
			golden(t, "test-pass."+format, out)
		})
	}
}

// TestTestFailingSuite has a wrong verdict, wrong rules, an expectation that selects nothing and an
// object nothing expects: each is a FAIL row with its reason, and the exit status is 1.
func TestTestFailingSuite(t *testing.T) {
	out, errOut, code := run(t, "", "test", suites+"/fail")
	if code != ExitDenied {
		t.Fatalf("exit %d, want %d; stderr: %s\n%s", code, ExitDenied, errOut, out)
	}
	golden(t, "test-fail.text", out)

	out, _, code = run(t, "", "test", suites+"/fail", "-o", "json")
	if code != ExitDenied {
		t.Fatalf("-o json: exit %d, want %d", code, ExitDenied)
	}
	var rep testReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	type row struct{ Resource, Expected, Got string }
	var failed []row
	for _, r := range rep.Rows {
		if !r.Pass {
			failed = append(failed, row{r.resource(), r.Expected, r.Got})
		}
	}
	want := []row{
		{"Pod team/privileged", "admitted", "denied"},
		{"Pod prod/hub", "admitted", "admitted"}, // the rules differ
		{"Pod team/missing", "admitted", ""},
		{"Deployment default/web", "", "admitted"},
	}
	if diff := cmp.Diff(want, failed); diff != "" {
		t.Errorf("failed rows (-want +got):\n%s", diff)
	}
	if rep.Passed != 1 || rep.Failed != 4 {
		t.Errorf("passed %d, failed %d; want 1 and 4", rep.Passed, rep.Failed)
	}
}

// TestTestMalformedSuite: every problem of the suite is reported with its field path, nothing runs,
// and the exit status is 2.
func TestTestMalformedSuite(t *testing.T) {
	out, errOut, code := run(t, "", "test", suites+"/malformed")
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d; stderr: %s", code, ExitUsage, errOut)
	}
	if out != "" {
		t.Errorf("stdout should be empty on an invalid suite, got:\n%s", out)
	}
	for _, want := range []string{
		`unknown field "tests[0].resource"`,
		"tests[0].resources: Required value",
		`tests[0].results[0].verdict: Unsupported value: "Warned": supported values: "admitted", "warned", "denied"`,
		"tests[0].results[1]: Required value: select the resources",
		`tests[0].results[1].rules[0]: Invalid value: "podSecurity.privilege": no rule of this sealgate reports this ID`,
		`tests[1].name: Duplicate value: "typos"`,
		`tests[1].policies[0]: Invalid value: "../no-such-file.yaml": cannot be read`,
		`tests[1].namespaces[0].name: Invalid value: "Prod"`,
	} {
		if !strings.Contains(errOut, "malformed/sealgate-test.yaml: "+want) && !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestTestFindsSuites(t *testing.T) {
	out, errOut, code := run(t, "", "test", suites+"/nested")
	if code != ExitOK || !strings.Contains(out, "nested  one file  Pod default/web") {
		t.Errorf("a suite two directories down: exit %d, stderr %s\n%s", code, errOut, out)
	}
	// Two suites at once: the table has the rows of both, and one failing suite fails the run.
	out, _, code = run(t, "", "test", suites+"/nested", suites+"/fail/sealgate-test.yaml")
	if code != ExitDenied || !strings.Contains(out, "\n6 results: 2 passed, 4 failed\n") {
		t.Errorf("two suites: exit %d, want 1 with both suites' rows:\n%s", code, out)
	}
	_, errOut, code = run(t, "", "test", t.TempDir())
	if code != ExitUsage || !strings.Contains(errOut, "no sealgate-test.yaml in this directory or below it") {
		t.Errorf("a directory without a suite: exit %d, stderr %s", code, errOut)
	}
}

func TestTestSuiteKindAndDocuments(t *testing.T) {
	for _, tc := range []struct{ name, suite, want string }{
		{"wrong kind", "apiVersion: sealgate.dev/v1alpha1\nkind: Suite\nmetadata: {name: x}\ntests: []\n",
			`kind: Invalid value: "Suite": want Test`},
		{"no tests", "apiVersion: sealgate.dev/v1alpha1\nkind: Test\nmetadata: {name: x}\n", "tests: Required value"},
		{"two documents", "apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\n", "want exactly one sealgate.dev/v1alpha1 Test document, found 2"},
		{"repeated key", "apiVersion: sealgate.dev/v1alpha1\nkind: Test\nkind: Test\nmetadata: {name: x}\n", "a suite file must not repeat a key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := writeTemp(t, t.TempDir(), "sealgate-test.yaml", tc.suite)
			_, errOut, code := run(t, "", "test", f)
			if code != ExitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want 2 and %q in stderr:\n%s", code, tc.want, errOut)
			}
		})
	}
}

// TestTestUnreadablePolicy: a test whose policies check cannot load stops the run with exit 2, the
// suite file and the test named.
func TestTestUnreadablePolicy(t *testing.T) {
	dir := t.TempDir()
	writeTemp(t, dir, "not-a-policy.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
	f := writeTemp(t, dir, "sealgate-test.yaml", `apiVersion: sealgate.dev/v1alpha1
kind: Test
metadata: {name: x}
tests:
  - name: wrong file
    policies: [not-a-policy.yaml]
    resources: [not-a-policy.yaml]
    results: [{name: p, verdict: admitted}]
`)
	out, errOut, code := run(t, "", "test", dir)
	if code != ExitUsage || out != "" || !strings.Contains(errOut, f+": tests[0] (wrong file): ") ||
		!strings.Contains(errOut, "ClusterAdmissionPolicy") {
		t.Errorf("exit %d, want 2 and nothing on stdout; stdout %q, stderr:\n%s", code, out, errOut)
	}
}

// TestTestCustomKinds: a suite sees the custom kinds check knows by default (an Alertmanager), with
// the rules at their paths: the test command runs check with check's own defaults.
func TestTestCustomKinds(t *testing.T) {
	dir := t.TempDir()
	f := writeTemp(t, dir, "sealgate-test.yaml", `apiVersion: sealgate.dev/v1alpha1
kind: Test
metadata: {name: crds}
tests:
  - name: alertmanager
    policies: [`+absTestdata(t, "customkinds/policy.yaml")+`]
    resources: [`+absTestdata(t, "customkinds/alertmanager.yaml")+`]
    results: [{kind: Alertmanager, name: main, verdict: denied, rules: [podSecurity.runAsNonRoot]}]
`)
	out, errOut, code := run(t, "", "test", f)
	if code != ExitOK || !strings.Contains(out, "1 result: 1 passed, 0 failed") {
		t.Errorf("exit %d, want 0; stderr %s\n%s", code, errOut, out)
	}
}

func absTestdata(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
