package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sealgate/sealgate/pkg/engine"
)

var update = flag.Bool("update", false, "rewrite golden files")

// run executes the CLI with args and returns stdout, stderr and the exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Execute(context.Background(), args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return out.String(), errOut.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got; run with -update if intended):\n%s", name, diff)
	}
}

const (
	examplePolicies  = "../../examples/policies"
	exampleWorkloads = "../../examples/workloads"
)

func TestCheckExamplesGolden(t *testing.T) {
	for _, tc := range []struct{ golden, format, detail string }{
		{"check-examples.text", "text", "grouped"},
		{"check-examples-full.text", "text", "full"},
		{"check-examples-summary.text", "text", "summary"},
		{"check-examples.json", "json", ""},
		{"check-examples.github", "github", ""},
		{"check-examples.table", "table", ""},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			args := []string{"check", "--policy", examplePolicies, "-f", exampleWorkloads, "-o", tc.format}
			if tc.detail != "" {
				args = append(args, "--detail", tc.detail)
			}
			out, errOut, code := run(t, "", args...)
			if code != ExitDenied {
				t.Fatalf("exit %d, want %d; stderr: %s", code, ExitDenied, errOut)
			}
			golden(t, tc.golden, out)
		})
	}
}

func TestCheckJSONSchema(t *testing.T) {
	out, _, _ := run(t, "", "check", "--policy", examplePolicies, "-f", exampleWorkloads, "-o", "json")
	var rep struct {
		Results []struct {
			APIVersion, Kind, Namespace, Name string
			Allowed                           *bool
			Violations                        []map[string]any
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) == 0 {
		t.Fatal("no results")
	}
	for _, r := range rep.Results {
		if r.APIVersion == "" || r.Kind == "" || r.Namespace == "" || r.Name == "" || r.Allowed == nil {
			t.Errorf("result missing a documented field: %+v", r)
		}
		for _, v := range r.Violations {
			for _, k := range []string{"policy", "rule", "mode", "path", "message"} {
				if s, _ := v[k].(string); s == "" {
					t.Errorf("%s/%s: violation without %q: %v", r.Kind, r.Name, k, v)
				}
			}
		}
	}
}

func TestCheckExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		stdin    string
		args     []string
		code     int
		inStderr string
	}{
		{name: "compliant only", args: []string{"-f", exampleWorkloads + "/web-deployment.yaml"}, code: ExitOK},
		{name: "warn and audit do not fail", args: []string{"-f", exampleWorkloads + "/latest-pod.yaml"}, code: ExitOK},
		{name: "denied", args: []string{"-f", exampleWorkloads + "/privileged-pod.yaml"}, code: ExitDenied},
		{name: "stdin", stdin: privilegedPod, args: []string{"-f", "-"}, code: ExitDenied},
		{name: "List from stdin", stdin: podList, args: []string{"-f", "-"}, code: ExitDenied},
		{name: "no policy flag", args: []string{"-f", exampleWorkloads, "--policy="}, code: ExitUsage, inStderr: "--policy"},
		{name: "bad output", args: []string{"-f", exampleWorkloads, "-o", "xml"}, code: ExitUsage, inStderr: `-o "xml"`},
		{name: "missing file", args: []string{"-f", "testdata/nope.yaml"}, code: ExitUsage, inStderr: "nope.yaml"},
		{name: "broken manifest", stdin: "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n---\nkind: [", args: []string{"-f", "-"}, code: ExitUsage, inStderr: "-: document 2"},
		{name: "undecodable pod", stdin: "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: nope}\n", args: []string{"-f", "-"}, code: ExitUsage, inStderr: "-: document 1: line 1: decoding Pod"},
		{name: "unknown flag", args: []string{"-f", exampleWorkloads, "--frobnicate"}, code: ExitUsage, inStderr: "frobnicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"check", "--policy", examplePolicies}, tt.args...)
			_, errOut, code := run(t, tt.stdin, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, errOut)
			}
			if !strings.Contains(errOut, tt.inStderr) {
				t.Errorf("stderr %q does not mention %q", errOut, tt.inStderr)
			}
		})
	}
}

func TestCheckInvalidPolicyNamesFileDocumentAndField(t *testing.T) {
	dir := t.TempDir()
	bad := `apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata: {name: ok}
spec: {podSecurity: {level: baseline}}
---
apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata: {name: broken}
spec:
  mode: Block
  images:
    allowedRegistries: ["registry.example.com/**", "ghcr.io/acme/*", "acme-*"]
`
	p := filepath.Join(dir, "policies.yaml")
	if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := run(t, "", "check", "--policy", p, "-f", exampleWorkloads)
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d", code, ExitUsage)
	}
	for _, want := range []string{p + ": document 2", "spec.mode", `spec.images.allowedRegistries[2]: Invalid value: "acme-*"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not mention %q:\n%s", want, errOut)
		}
	}
}

func TestCheckNamespaceLabelsFromInput(t *testing.T) {
	// The production policy selects env=prod namespaces: the CronJob is denied only when the input
	// says its namespace has that label.
	cron, err := os.ReadFile(exampleWorkloads + "/report-cronjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	prod := "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod, labels: {env: prod}}\n---\n"
	if _, _, code := run(t, string(cron), "check", "--policy", examplePolicies+"/production.yaml", "-f", "-"); code != ExitOK {
		t.Errorf("without the Namespace object: exit %d, want 0 (namespace has only its name label)", code)
	}
	if _, _, code := run(t, prod+string(cron), "check", "--policy", examplePolicies+"/production.yaml", "-f", "-"); code != ExitDenied {
		t.Errorf("with the labelled Namespace: exit %d, want 1", code)
	}
}

func TestCheckSkipSignaturesIsReported(t *testing.T) {
	dir := t.TempDir()
	pol := `apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata: {name: signed}
spec:
  signatures:
    - images: ["registry.example.com/**"]
      attestors:
        - name: release
          publicKey: |
            -----BEGIN PUBLIC KEY-----
            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKJY4PBsXbeHg6qtNrcjvlAsBmyiO
            IfIUydR4G/h7oCDdt9yovFZEW2HGL18w/PiD21gQbeJHbJ9HnoXZmbXKmw==
            -----END PUBLIC KEY-----
`
	p := filepath.Join(dir, "signed.yaml")
	if err := os.WriteFile(p, []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	w := exampleWorkloads + "/web-deployment.yaml"
	out, _, code := run(t, "", "check", "--policy", p, "-f", w)
	if code != ExitDenied || !strings.Contains(out, "[signed/signatures]") {
		t.Errorf("without a verifier the signature rule must fail closed; exit %d:\n%s", code, out)
	}
	out, _, code = run(t, "", "check", "--policy", p, "-f", w, "--skip-signatures")
	if code != ExitOK || !strings.Contains(out, "signatures were not verified (--skip-signatures)") {
		t.Errorf("--skip-signatures: exit %d:\n%s", code, out)
	}
}

const privilegedPod = `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: dev}
spec:
  containers:
    - {name: c, image: "busybox:1.37", securityContext: {privileged: true}}
`

const podList = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: ok, namespace: dev}
    spec:
      containers: [{name: c, image: "busybox:1.37"}]
  - apiVersion: v1
    kind: Pod
    metadata: {name: bad, namespace: dev}
    spec:
      containers: [{name: c, image: "busybox:1.37", securityContext: {privileged: true}}]
`

// TestCheckOutputIsBounded: crafted manifests do not multiply into output. A pod adding 200,000
// capabilities (a 1 MB manifest) is one line per rule; a pod of 2,000 privileged containers lists
// the engine's limit per rule and says how many more there are, in both formats.
func TestCheckOutputIsBounded(t *testing.T) {
	dir := t.TempDir()
	pol := `apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata: {name: strict}
spec:
  podSecurity: {level: baseline}
  containers:
    privileged: Forbid
    capabilities: {allowedAdd: [NET_BIND_SERVICE]}
`
	p := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(p, []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	caps := make([]string, 200_000)
	for i := range caps {
		caps[i] = strconv.Quote("C" + strconv.Itoa(i%1000))
	}
	capsPod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"caps","namespace":"dev"},"spec":{"containers":[` +
		`{"name":"app","image":"busybox:1.37","securityContext":{"capabilities":{"add":[` + strings.Join(caps, ",") + `]}}}]}}`
	var cs []string
	for i := range 2000 {
		cs = append(cs, `{"name":"c`+strconv.Itoa(i)+`","image":"busybox:1.37","securityContext":{"privileged":true}}`)
	}
	manyPod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"many","namespace":"dev"},"spec":{"containers":[` + strings.Join(cs, ",") + `]}}`

	for _, format := range []string{"text", "json", "grouped"} {
		t.Run(format, func(t *testing.T) {
			args := []string{"check", "--policy", p, "-f", "-", "-o", format, "--detail", "full"}
			if format == "grouped" {
				args = []string{"check", "--policy", p, "-f", "-"}
			}
			out, errOut, code := run(t, capsPod+"\n---\n"+manyPod, args...)
			if code != ExitDenied {
				t.Fatalf("exit %d, want %d; stderr: %s", code, ExitDenied, errOut)
			}
			if len(out) > 64<<10 {
				t.Errorf("output is %d bytes for %d bytes of manifests", len(out), len(capsPod)+len(manyPod))
			}
			if format == "grouped" {
				// One group per rule and message, the containers' names left out: a line and the first objects.
				if strings.Count(out, "\n") > 60 {
					t.Errorf("grouped output is not grouped:\n%.3000s", out)
				}
				return
			}
			if want := `adds 200000 capabilities that are not allowed: \"C0\", \"C1\", \"C2\", … (199997 more)`; format == "text" {
				if !strings.Contains(out, strings.ReplaceAll(want, `\"`, `"`)) {
					t.Errorf("output lacks the collapsed list:\n%.2000s", out)
				}
			} else if !strings.Contains(out, want) {
				t.Errorf("output lacks the collapsed list:\n%.2000s", out)
			}
			// Two rules break on each of the 2,000 containers: each lists its limit, the rest are counted.
			// The two flag the same field, so the listed ones are one violation per container naming
			// both rules (as are the capabilities pod's two); the counted ones stay per rule.
			omitted := 2 * (2000 - engine.MaxViolationsPerRule)
			if format == "text" {
				if want := fmt.Sprintf("  …      %d more violations not shown\n", omitted); !strings.Contains(out, want) {
					t.Errorf("text output lacks %q", want)
				}
				if want := fmt.Sprintf("violations: %d enforced", 1+engine.MaxViolationsPerRule+omitted); !strings.Contains(out, want) {
					t.Errorf("summary does not count every violation (%q):\n%s", want, out[max(0, len(out)-300):])
				}
				return
			}
			var rep struct {
				Results []struct {
					Name              string
					Violations        []json.RawMessage
					OmittedViolations *int `json:"omittedViolations"`
				}
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != 2 || rep.Results[0].OmittedViolations == nil || rep.Results[1].OmittedViolations == nil {
				t.Fatalf("want two results with omittedViolations: %.500s", out)
			}
			if got := *rep.Results[0].OmittedViolations; got != 0 {
				t.Errorf("caps: omittedViolations = %d, want 0", got)
			}
			if got, n := *rep.Results[1].OmittedViolations, len(rep.Results[1].Violations); got != omitted || n != engine.MaxViolationsPerRule {
				t.Errorf("many: %d listed and %d omitted, want %d and %d", n, got, engine.MaxViolationsPerRule, omitted)
			}
		})
	}
}
