package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	junit "github.com/joshdk/go-junit"
	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
)

// sarifSchema compiles the vendored SARIF 2.1.0 schema (testdata/sarif/README.md says where it is from).
func sarifSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "sarif", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("sarif-schema-2.1.0.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckSARIFValidatesAgainstSchema(t *testing.T) {
	schema := sarifSchema(t)
	// The validator is not lenient: a level SARIF does not define fails it.
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"message":{"text":"m"},"level":"fatal"}]}]}`))
	if err := schema.Validate(bad); err == nil {
		t.Fatal("the schema accepts level \"fatal\"")
	}
	for _, tc := range []struct {
		name string
		args []string
		// levels counts the results by level; suppressed counts those an exception waives.
		levels     map[string]int
		suppressed int
	}{
		{"examples", []string{"-f", exampleWorkloads}, map[string]int{"error": 10, "warning": 1, "note": 3}, 0},
		{"excepted", []string{"--exceptions", exampleExceptions, "-f", exampleWorkloads + "/node-agent-daemonset.yaml"}, map[string]int{"note": 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, _ := run(t, "", append([]string{"check", "--policy", examplePolicies, "-o", "sarif"}, tc.args...)...)
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
			if err != nil {
				t.Fatalf("%v; stderr: %s", err, errOut)
			}
			if err := schema.Validate(inst); err != nil {
				t.Fatalf("SARIF output does not validate: %v", err)
			}
			var log sarifLog
			if err := json.Unmarshal([]byte(out), &log); err != nil {
				t.Fatal(err)
			}
			run := log.Runs[0]
			levels, suppressed := map[string]int{}, 0
			for _, r := range run.Results {
				levels[r.Level]++
				if rule := run.Tool.Driver.Rules[r.RuleIndex]; rule.ID != r.RuleID || rule.Name == "" {
					t.Errorf("result %s points at rule %+v", r.RuleID, rule)
				}
				loc := r.Locations[0].PhysicalLocation
				if !strings.HasSuffix(loc.ArtifactLocation.URI, ".yaml") || loc.Region == nil || loc.Region.StartLine < 1 {
					t.Errorf("result %s: location %+v, want the file and its line", r.RuleID, loc)
				}
				if r.Properties["fix"] == "" || !strings.Contains(r.Message.Markdown, "**Fix:** "+r.Properties["fix"]) {
					t.Errorf("result %s carries no fix: %+v", r.RuleID, r)
				}
				if len(r.Suppressions) > 0 {
					suppressed++
					if r.Properties["excepted"] == "" || r.Level != "note" {
						t.Errorf("suppressed result %s: %+v", r.RuleID, r)
					}
				}
			}
			if diff := cmp.Diff(tc.levels, levels); diff != "" {
				t.Errorf("levels (-want +got):\n%s", diff)
			}
			if suppressed != tc.suppressed {
				t.Errorf("%d suppressed results, want %d", suppressed, tc.suppressed)
			}
			if len(run.Tool.Driver.Rules) < 20 {
				t.Errorf("driver lists %d rules, want every registered rule", len(run.Tool.Driver.Rules))
			}
		})
	}
}

func TestCheckJUnitParses(t *testing.T) {
	for _, tc := range []struct {
		failOn string
		failed map[string]bool
	}{
		{"enforce", map[string]bool{"DaemonSet dev/node-agent": true, "Pod dev/debug-shell": true, "CronJob prod/nightly-report": true}},
		// The scratchpad pod only warns: it fails from --fail-on warn on.
		{"warn", map[string]bool{"DaemonSet dev/node-agent": true, "Pod dev/debug-shell": true, "CronJob prod/nightly-report": true, "Pod dev/scratchpad": true}},
	} {
		t.Run(tc.failOn, func(t *testing.T) {
			out, errOut, _ := run(t, "", "check", "--policy", examplePolicies, "-f", exampleWorkloads, "-o", "junit", "--fail-on", tc.failOn)
			suites, err := junit.Ingest([]byte(out))
			if err != nil {
				t.Fatalf("%v; stderr: %s", err, errOut)
			}
			if len(suites) != 6 {
				t.Fatalf("%d suites, want 6 (one per file): %+v", len(suites), suites)
			}
			tests, failed := 0, map[string]bool{}
			for _, s := range suites {
				if !strings.HasSuffix(s.Name, ".yaml") {
					t.Errorf("suite %q is not named after its file", s.Name)
				}
				for _, tt := range s.Tests {
					tests++
					if tt.Status == junit.StatusFailed {
						failed[tt.Name] = true
						if tt.Error == nil || !strings.Contains(tt.Error.Error(), "[") {
							t.Errorf("%s: failure without the violations: %v", tt.Name, tt.Error)
						}
					}
				}
			}
			if tests != 6 {
				t.Errorf("%d testcases, want 6 (one per object)", tests)
			}
			if diff := cmp.Diff(tc.failed, failed); diff != "" {
				t.Errorf("failed testcases (-want +got):\n%s", diff)
			}
		})
	}
}

// GitHub workflow commands: the message escapes %, CR and LF; properties also : and ,.
func TestCheckGitHubEscapes(t *testing.T) {
	r := &report{Results: []result{{objectRef: objectRef{Kind: "Pod", Namespace: "dev", Name: "p", File: "dir,1/a:b%.yaml", Line: 7}, Allowed: false,
		Violations: []engine.Violation{{Policy: "p,1", Rule: "images.x", Mode: v1alpha1.ModeEnforce, Path: "spec.containers[0].image",
			Message: "100% bad\r\nsecond line; fix: it"}}}}}
	r.Summary = r.summarize()
	got := strings.SplitN(r.github(), "\n", 2)[0]
	want := "::error file=dir%2C1/a%3Ab%25.yaml,line=7,title=p%2C1/images.x::Pod dev/p: spec.containers[0].image: 100%25 bad%0D%0Asecond line; fix: it"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestCheckFailOn(t *testing.T) {
	dir := t.TempDir()
	policy := func(mode string) string {
		return writeTemp(t, dir, mode+".yaml", strings.Replace(privilegedPolicy, "spec: {", "spec: {mode: "+mode+", ", 1))
	}
	enforce, warn, audit := policy("Enforce"), policy("Warn"), policy("Audit")
	for _, tc := range []struct {
		policy, failOn string
		code           int
	}{
		{enforce, "enforce", ExitDenied},
		{warn, "enforce", ExitOK},
		{warn, "warn", ExitDenied},
		{warn, "audit", ExitDenied},
		{audit, "enforce", ExitOK},
		{audit, "warn", ExitOK},
		{audit, "audit", ExitDenied},
	} {
		t.Run(filepath.Base(tc.policy)+" "+tc.failOn, func(t *testing.T) {
			_, errOut, code := run(t, privilegedAgent, "check", "--policy", tc.policy, "-f", "-", "--fail-on", tc.failOn)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, errOut)
			}
		})
	}
	// A waived violation never fails, whatever the level.
	excepted := writeTemp(t, dir, "x.yaml", exceptionDoc("", ""))
	if _, errOut, code := run(t, privilegedAgent, "check", "--policy", audit, "--exceptions", excepted, "-f", "-", "--fail-on", "audit"); code != ExitOK {
		t.Errorf("excepted, --fail-on audit: exit %d, want 0; stderr: %s", code, errOut)
	}
	if _, errOut, code := run(t, privilegedAgent, "check", "--policy", audit, "-f", "-", "--fail-on", "info"); code != ExitUsage || !strings.Contains(errOut, `--fail-on "info"`) {
		t.Errorf("--fail-on info: exit %d, stderr %s", code, errOut)
	}
}

// -o report prints the OpenReports objects the cluster's audit writes: a Report per namespace and
// the ClusterReport summing them up.
func TestCheckReportFormat(t *testing.T) {
	out, errOut, _ := run(t, "", "check", "--policy", examplePolicies, "-f", exampleWorkloads, "-o", "report")
	docs := strings.Split(out, "\n---\n")
	if len(docs) != 3 {
		t.Fatalf("%d documents, want a Report for dev and prod and a ClusterReport; stderr: %s\n%s", len(docs), errOut, out)
	}
	var sum orv1alpha1.ReportSummary
	for _, doc := range docs[:2] {
		var rep orv1alpha1.Report
		if err := yaml.UnmarshalStrict([]byte(doc), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Kind != "Report" || rep.Namespace == "" || rep.APIVersion != orv1alpha1.SchemeGroupVersion.String() {
			t.Errorf("not a namespaced Report: %+v", rep.TypeMeta)
		}
		for _, r := range rep.Results {
			if len(r.Subjects) != 1 || r.Subjects[0].Namespace != rep.Namespace {
				t.Errorf("%s: result about another namespace: %+v", rep.Namespace, r)
			}
		}
		sum.Fail += rep.Summary.Fail
		sum.Warn += rep.Summary.Warn
	}
	// Enforce and Audit violations fail, Warn ones warn, as the audit reports them.
	if sum.Fail != 13 || sum.Warn != 1 {
		t.Errorf("reports count %d fail and %d warn, want 13 and 1", sum.Fail, sum.Warn)
	}
	var cr orv1alpha1.ClusterReport
	if err := yaml.UnmarshalStrict([]byte(docs[2]), &cr); err != nil || cr.Kind != "ClusterReport" || len(cr.Results) == 0 {
		t.Errorf("want a ClusterReport with results: %v %+v", err, cr.TypeMeta)
	}
}

// -o yaml is the JSON report, as YAML.
func TestCheckYAMLIsTheJSONReport(t *testing.T) {
	asJSON, _, _ := run(t, "", "check", "--policy", examplePolicies, "-f", exampleWorkloads, "-o", "json")
	asYAML, _, _ := run(t, "", "check", "--policy", examplePolicies, "-f", exampleWorkloads, "-o", "yaml")
	converted, err := yaml.YAMLToJSON([]byte(asYAML))
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal([]byte(asJSON), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(converted, &b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("yaml differs from json (-json +yaml):\n%s", diff)
	}
}

// Identical findings on several objects are one group, the container's name left out when it
// differs; --detail=full lists each.
func TestCheckGroupsIdenticalFindings(t *testing.T) {
	var in bytes.Buffer
	for i, c := range []string{"a", "b", "c", "d", "e"} {
		if i > 0 {
			in.WriteString("---\n")
		}
		in.WriteString(strings.NewReplacer("agent-1", "agent-"+c, "name: agent,", "name: "+c+",").Replace(privilegedAgent))
	}
	dir := t.TempDir()
	p := writeTemp(t, dir, "p.yaml", privilegedPolicy)
	out, _, _ := run(t, in.String(), "check", "--policy", p, "-f", "-")
	want := `deny   5 objects: container "…" sets privileged: true; remove securityContext.privileged or set it to false [no-privileged/containers.privileged]
         Pod prod/agent-a: spec.containers[0].securityContext.privileged  (-:1)
         Pod prod/agent-b: spec.containers[0].securityContext.privileged  (-:6)
         Pod prod/agent-c: spec.containers[0].securityContext.privileged  (-:11)
         … and 2 more
`
	if !strings.Contains(out, want) {
		t.Errorf("grouped output lacks\n%s\ngot:\n%s", want, out)
	}
	full, _, _ := run(t, in.String(), "check", "--policy", p, "-f", "-", "--detail", "full")
	if n := strings.Count(full, `deny   spec.containers[0].securityContext.privileged: container "`); n != 5 {
		t.Errorf("--detail full lists %d findings, want 5:\n%s", n, full)
	}
	summary, _, _ := run(t, in.String(), "check", "--policy", p, "-f", "-", "--detail", "summary")
	if strings.Contains(summary, "Findings") || !strings.Contains(summary, "Worst objects:") {
		t.Errorf("--detail summary:\n%s", summary)
	}
}
