package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const exampleExceptions = "../../examples/exceptions"

// The example exception waives the node agent's host network and host port: check admits it and
// lists both violations, marked excepted with the exception's name.
func TestCheckExceptionsGolden(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			out, errOut, code := run(t, "", "check", "--policy", examplePolicies, "--exceptions", exampleExceptions,
				"-f", exampleWorkloads+"/node-agent-daemonset.yaml", "-o", format)
			if code != ExitOK {
				t.Fatalf("exit %d, want %d; stderr: %s\n%s", code, ExitOK, errOut, out)
			}
			golden(t, "check-exceptions."+format, out)
		})
	}
	// Without the exception the same DaemonSet is denied: the golden above shows the exception at work.
	_, _, code := run(t, "", "check", "--policy", examplePolicies, "-f", exampleWorkloads+"/node-agent-daemonset.yaml")
	if code != ExitDenied {
		t.Errorf("exit %d without the exception, want %d", code, ExitDenied)
	}
}

const privilegedAgent = `apiVersion: v1
kind: Pod
metadata: {name: agent-1, namespace: prod}
spec: {containers: [{name: agent, image: "registry.example.com/agent:1", securityContext: {privileged: true}}]}
`

const privilegedPolicy = `apiVersion: sealgate.dev/v1alpha1
kind: ClusterAdmissionPolicy
metadata: {name: no-privileged}
spec: {containers: {privileged: Forbid}}
`

func exceptionDoc(namespace, extra string) string {
	meta := "{name: agent"
	if namespace != "" {
		meta += ", namespace: " + namespace
	}
	return `apiVersion: sealgate.dev/v1alpha1
kind: PolicyException
metadata: ` + meta + `}
spec:
  reason: the agent needs it
  policies: [{name: no-privileged, rules: [containers.privileged]}]
  match: {namespaces: [prod], names: ["agent-*"]` + extra + `}
`
}

func TestCheckExceptionSources(t *testing.T) {
	dir := t.TempDir()
	policyFile := writeTemp(t, dir, "policy.yaml", privilegedPolicy)
	withException := writeTemp(t, dir, "both.yaml", privilegedPolicy+"---\n"+exceptionDoc("", ""))
	exceptionFile := writeTemp(t, dir, "exception.yaml", exceptionDoc("", ""))
	platform := writeTemp(t, dir, "platform.yaml", exceptionDoc("platform", ""))
	invalid := writeTemp(t, dir, "invalid.yaml", exceptionDoc("", ", images: [\"agent:v*\"]")+"  rules: x\n")
	unknownRule := writeTemp(t, dir, "unknown.yaml", strings.Replace(exceptionDoc("", ""), "containers.privileged", "containers.privilegd", 1))
	for _, tc := range []struct {
		name     string
		args     []string
		stdin    string
		code     int
		inOutput []string
	}{
		{"no exception", []string{"--policy", policyFile, "-f", "-"}, privilegedAgent, ExitDenied, nil},
		{"inside the policy file, in sealgate's namespace by default", []string{"--policy", withException, "-f", "-"}, privilegedAgent, ExitOK,
			[]string{"waive  spec.containers[0].securityContext.privileged", "(excepted by sealgate-system/agent)"}},
		{"--exceptions", []string{"--policy", policyFile, "--exceptions", exceptionFile, "-f", "-"}, privilegedAgent, ExitOK,
			[]string{"(excepted by sealgate-system/agent)", "1 excepted (1 exception read)"}},
		{"--exceptions from stdin", []string{"--policy", policyFile, "--exceptions", "-", "-f", writeTemp(t, dir, "pod.yaml", privilegedAgent)},
			exceptionDoc("", ""), ExitOK, []string{"(excepted by sealgate-system/agent)"}},
		{"outside sealgate's namespace: ignored", []string{"--policy", policyFile, "--exceptions", platform, "-f", "-"}, privilegedAgent, ExitDenied,
			[]string{"deny   spec.containers[0].securityContext.privileged", "0 excepted (1 exception read)"}},
		{"--sealgate-namespace says where sealgate is", []string{"--policy", policyFile, "--exceptions", platform, "--sealgate-namespace", "platform", "-f", "-"},
			privilegedAgent, ExitOK, []string{"(excepted by platform/agent)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, tc.stdin, append([]string{"check", "--detail", "full"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, want := range tc.inOutput {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
	for _, tc := range []struct {
		name     string
		args     []string
		inStderr []string
	}{
		{"invalid exception", []string{"--policy", policyFile, "--exceptions", invalid}, []string{
			`invalid.yaml: document 1: exception "sealgate-system/agent" is invalid:`, `unknown field "spec.rules"`,
			`spec.match.images[0]: Invalid value: "agent:v*"`}},
		{"unknown rule", []string{"--policy", policyFile, "--exceptions", unknownRule}, []string{
			`spec.policies[0].rules[0]: Invalid value: "containers.privilegd": no rule of this sealgate has this ID`}},
		{"defined twice", []string{"--policy", withException, "--exceptions", exceptionFile}, []string{
			`exception "sealgate-system/agent" is defined both in --policy and in --exceptions files`}},
		{"stdin twice", []string{"--policy", policyFile, "--exceptions", "-", "-f", "-"}, []string{"only one of --policy -, --exceptions - and -f - can read standard input"}},
		{"empty", []string{"--policy", policyFile, "--exceptions="}, []string{"--exceptions must not be empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"check", "-f", writeTemp(t, dir, "pod.yaml", privilegedAgent)}, tc.args...)
			_, errOut, code := run(t, "", args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d: %s", code, ExitUsage, errOut)
			}
			for _, want := range tc.inStderr {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
		})
	}
}

func TestCheckExceptionJSON(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := run(t, privilegedAgent, "check", "--policy", writeTemp(t, dir, "p.yaml", privilegedPolicy),
		"--exceptions", writeTemp(t, dir, "x.yaml", exceptionDoc("", "")), "-f", "-", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Exceptions int `json:"exceptions"`
		Results    []struct {
			Allowed    bool `json:"allowed"`
			Violations []struct {
				Rule     string `json:"rule"`
				Excepted string `json:"excepted"`
			} `json:"violations"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Exceptions != 1 || len(rep.Results) != 1 || !rep.Results[0].Allowed || len(rep.Results[0].Violations) != 1 ||
		rep.Results[0].Violations[0].Excepted != "sealgate-system/agent" {
		t.Errorf("json: %s", out)
	}
}

func writeTemp(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
