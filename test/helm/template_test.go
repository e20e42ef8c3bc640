//go:build helm

package helm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLint runs helm lint --strict over the defaults and every ci scenario.
func TestLint(t *testing.T) {
	args := [][]string{nil}
	for _, s := range scenarios(t) {
		args = append(args, []string{"-f", s.values})
	}
	for _, a := range args {
		out, errOut, err := helm(t.Context(), append([]string{"lint", "--strict", chartDir}, a...)...)
		if err != nil {
			t.Errorf("helm lint --strict %s: %v\n%s%s", strings.Join(a, " "), err, out, errOut)
		}
	}
}

// TestTemplateGolden renders every ci scenario and compares it with testdata/<scenario>.yaml. The specs
// of the report CRDs are left out (elideCRDSpecs): they are files/report-crds, which TestReportCRDs
// compares, and would triple the size of every golden file.
func TestTemplateGolden(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			golden(t, s.name+".yaml", elideCRDSpecs(renderScenario(t, s)))
		})
	}
}

// elidedSpec replaces the spec of a CustomResourceDefinition in the golden files.
const elidedSpec = "spec: {} # elided: the spec of files/report-crds/<group>_<plural>.yaml (TestReportCRDs)"

// elideCRDSpecs replaces the top-level spec of every CustomResourceDefinition document with
// elidedSpec. toYaml sorts keys, so spec is the last top-level key of a rendered CRD.
func elideCRDSpecs(rendered string) string {
	docs := strings.Split(rendered, "\n---\n")
	for i, d := range docs {
		if !strings.Contains("\n"+d+"\n", "\nkind: CustomResourceDefinition\n") {
			continue
		}
		if at := strings.Index(d, "\nspec:\n"); at >= 0 {
			docs[i] = d[:at+1] + elidedSpec + d[len(strings.TrimRight(d, "\n")):]
		}
	}
	return strings.Join(docs, "\n---\n")
}

// TestScenarioObjects pins which objects each scenario renders, so that a mode that drops or adds a
// resource is a visible change.
func TestScenarioObjects(t *testing.T) {
	common := []string{"ClusterRole/sealgate", "ClusterRoleBinding/sealgate", "Deployment/sealgate",
		"PodDisruptionBudget/sealgate", "Service/sealgate", "ServiceAccount/sealgate",
		"Role/sealgate-signing", "RoleBinding/sealgate-signing",
		"Role/sealgate-leader-election", "RoleBinding/sealgate-leader-election", "NetworkPolicy/sealgate",
		"ClusterRole/sealgate-metrics-auth", "ClusterRoleBinding/sealgate-metrics-auth", "ClusterRole/sealgate-metrics-reader",
		"ClusterRole/sealgate-exception-editor", "ValidatingWebhookConfiguration/sealgate", "ClusterAdmissionPolicy/baseline",
		"CustomResourceDefinition/reports.openreports.io", "CustomResourceDefinition/clusterreports.openreports.io"}
	self := []string{"Role/sealgate", "RoleBinding/sealgate", "Secret/sealgate-webhook-cert"}
	want := map[string][]string{
		"default":          concat(common, self),
		"hardened":         concat(common, self, []string{"ConfigMap/sealgate-client-ca"}),
		"local":            concat(common, self),
		"monitoring":       concat(common, self, []string{"ServiceMonitor/sealgate", "PrometheusRule/sealgate"}),
		"enforce-policies": concat(common, self, []string{"ClusterAdmissionPolicy/production", "ClusterAdmissionPolicy/warn-latest"}),
		"existing-secret":  common,
		"cert-manager": concat(common, []string{"Issuer/sealgate-selfsigned", "Issuer/sealgate-ca",
			"Certificate/sealgate-ca", "Certificate/sealgate-webhook"}),
		"tuned": {"ClusterRole/admission-gate", "ClusterRoleBinding/admission-gate", "ClusterRole/admission-gate-exception-editor", "Deployment/admission-gate",
			"PodDisruptionBudget/admission-gate", "Service/admission-gate", "ServiceAccount/admission-gate",
			"ValidatingWebhookConfiguration/admission-gate", "ClusterAdmissionPolicy/baseline",
			"Role/admission-gate", "RoleBinding/admission-gate", "Secret/admission-gate-webhook-cert",
			"Role/admission-gate-signing", "RoleBinding/admission-gate-signing",
			"Role/admission-gate-leader-election", "RoleBinding/admission-gate-leader-election",
			"ClusterRole/admission-gate-pull-secrets", "ClusterRoleBinding/admission-gate-pull-secrets",
			"ConfigMap/admission-gate-registry-ca",
			"CustomResourceDefinition/policyreports.wgpolicyk8s.io", "CustomResourceDefinition/clusterpolicyreports.wgpolicyk8s.io"},
	}
	for _, s := range scenarios(t) {
		w, ok := want[s.name]
		if !ok {
			t.Errorf("scenario %s: add it to this test and to TestWebhookConfigMatchesGo", s.name)
			continue
		}
		slices.Sort(w)
		if got := parse(t, renderScenario(t, s)).kinds(); !slices.Equal(got, w) {
			t.Errorf("scenario %s renders\n  %v\nwant\n  %v", s.name, got, w)
		}
	}
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// TestMonitoringNeedsTheAPI: enabled ServiceMonitor and PrometheusRule render only where the cluster
// serves monitoring.coreos.com/v1, so the chart installs on a cluster without prometheus-operator.
func TestMonitoringNeedsTheAPI(t *testing.T) {
	m := parse(t, render(t, "-f", filepath.Join(chartDir, "ci", "monitoring-values.yaml")))
	for _, k := range m.kinds() {
		if strings.HasPrefix(k, "ServiceMonitor/") || strings.HasPrefix(k, "PrometheusRule/") {
			t.Errorf("%s rendered without the monitoring.coreos.com/v1 API", k)
		}
	}
	m = parse(t, render(t, "--api-versions", "monitoring.coreos.com/v1"))
	for _, k := range m.kinds() {
		if strings.HasPrefix(k, "ServiceMonitor/") || strings.HasPrefix(k, "PrometheusRule/") {
			t.Errorf("%s rendered although not enabled", k)
		}
	}
}

// TestBadValuesRejected: every file in testdata/bad-values fails helm template with the error its first
// line ("# want: ...") names, before anything is rendered.
func TestBadValuesRejected(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "bad-values", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad values files: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(b), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatalf("%s: first line must be '# want: <error text>'", f)
			}
			out, errOut, err := helm(t.Context(), "template", "sealgate", chartDir, "--namespace", releaseNS, "-f", f)
			if err == nil {
				t.Fatalf("helm template accepted %s:\n%s", f, out)
			}
			if !strings.Contains(errOut, want) {
				t.Errorf("error lacks %q:\n%s", want, errOut)
			}
			// helm lint catches them too: it fails on a schema violation, and reports a template's
			// `fail` (which lint only logs) with the same message.
			out, errOut, err = helm(t.Context(), "lint", chartDir, "-f", f)
			if err == nil && !strings.Contains(out+errOut, want) {
				t.Errorf("helm lint neither failed nor reported %q:\n%s%s", want, out, errOut)
			}
		})
	}
}
