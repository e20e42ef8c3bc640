//go:build helm

package helm

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// reportCRDs are the files of files/report-crds the chart renders for each audit.reportAPI.
var reportCRDs = map[string][]string{
	"openreports.io/v1alpha1": {"openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"},
	"wgpolicyk8s.io/v1alpha2": {"wgpolicyk8s.io_policyreports.yaml", "wgpolicyk8s.io_clusterpolicyreports.yaml"},
}

// TestReportCRDFilesAreGenerated: the chart's report CRDs are the ones make generate writes into
// config/crd/bases, and the openreports.io ones are those of the reports-api module go.mod pins.
func TestReportCRDFilesAreGenerated(t *testing.T) {
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/openreports/reports-api").Output()
	if err != nil {
		t.Fatalf("go mod download github.com/openreports/reports-api: %v\n%s", err, out)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download -json github.com/openreports/reports-api: no directory (%v): %s", err, out)
	}
	module := mod.Dir
	for _, files := range reportCRDs {
		for _, f := range files {
			got := readFile(t, filepath.Join(chartDir, "files", "report-crds", f))
			if want := readFile(t, filepath.Join(root, "config", "crd", "bases", f)); !bytes.Equal(got, want) {
				t.Errorf("charts/sealgate/files/report-crds/%s differs from config/crd/bases/%s: run make generate", f, f)
			}
			if strings.HasPrefix(f, "openreports.io_") {
				if want := readFile(t, filepath.Join(module, "config", "crd", f)); !bytes.Equal(got, want) {
					t.Errorf("charts/sealgate/files/report-crds/%s is not the one github.com/openreports/reports-api ships: run make generate", f)
				}
			}
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReportCRDs: the chart renders the two CRDs of audit.reportAPI, each as the file says plus Helm's
// keep policy (uninstalling sealgate must not delete reports other tools wrote) and the chart's labels,
// and none when installReportCRDs or the audit is off. Skipping a CRD another tool installed needs a
// cluster to look it up in: TestReportCRDsInstall.
func TestReportCRDs(t *testing.T) {
	for api, files := range reportCRDs {
		t.Run(api, func(t *testing.T) {
			m := parse(t, render(t, "--set", "audit.reportAPI="+api))
			var names []string
			for _, f := range files {
				var want map[string]any
				if err := yaml.Unmarshal(readFile(t, filepath.Join(chartDir, "files", "report-crds", f)), &want); err != nil {
					t.Fatal(err)
				}
				wantMeta := want["metadata"].(map[string]any)
				name := wantMeta["name"].(string)
				names = append(names, "CustomResourceDefinition/"+name)
				var got map[string]any
				if !m.named(t, "CustomResourceDefinition", name, &got) {
					continue // reported below
				}
				if diff := cmp.Diff(want["spec"], got["spec"]); diff != "" {
					t.Errorf("%s: spec differs from files/report-crds/%s (-want +got):\n%s", name, f, diff)
				}
				meta := got["metadata"].(map[string]any)
				annotations, _ := meta["annotations"].(map[string]any)
				if annotations["helm.sh/resource-policy"] != "keep" {
					t.Errorf("%s: annotations %v lack helm.sh/resource-policy: keep", name, annotations)
				}
				for k, v := range wantMeta["annotations"].(map[string]any) {
					if annotations[k] != v {
						t.Errorf("%s: annotation %s=%v, the file has %v", name, k, annotations[k], v)
					}
				}
				labels, _ := meta["labels"].(map[string]any)
				if labels["app.kubernetes.io/instance"] != "sealgate" || labels["app.kubernetes.io/managed-by"] != "Helm" {
					t.Errorf("%s: labels %v, want the chart's", name, labels)
				}
			}
			slices.Sort(names)
			if got := crdsOf(m); !slices.Equal(got, names) {
				t.Errorf("audit.reportAPI=%s renders CRDs %v, want %v", api, got, names)
			}
		})
	}
	for _, off := range []string{"audit.installReportCRDs=false", "audit.enabled=false"} {
		if got := crdsOf(parse(t, render(t, "--set", off))); len(got) != 0 {
			t.Errorf("with %s the chart renders %v, want no CRD", off, got)
		}
	}
}

func crdsOf(m manifests) []string {
	var out []string
	for _, k := range m.kinds() {
		if strings.HasPrefix(k, "CustomResourceDefinition/") {
			out = append(out, k)
		}
	}
	return out
}

// The ClusterRole rules of the audit: the pod-bearing kinds read in every case (workloadRules), the
// reports written only when the audit is on (reportRules).
var (
	workloadRules = []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "replicationcontrollers", "podtemplates"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets", "statefulsets", "daemonsets"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: []string{"list", "watch"}},
	}
	reportRules = []rbacv1.PolicyRule{
		{APIGroups: []string{"openreports.io"}, Resources: []string{"reports", "clusterreports"},
			Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{"wgpolicyk8s.io"}, Resources: []string{"policyreports", "clusterpolicyreports"},
			Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
	}
)

// TestAuditRBACAndFlags: in every scenario sealgate may get its own webhook configuration (the audit
// reads its selectors, whatever the certificate mode), list and watch the pod-bearing kinds, and write
// reports; the Deployment passes the audit values. With audit.enabled=false the report rules go and
// --audit=false is passed.
func TestAuditRBACAndFlags(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			r := inspect(t, renderScenario(t, s))
			var vwcGet bool
			for _, rule := range r.clusterRole.Rules {
				if slices.Contains(rule.Resources, "validatingwebhookconfigurations") && slices.Contains(rule.Verbs, "get") &&
					slices.Equal(rule.ResourceNames, []string{r.vwc.Name}) {
					vwcGet = true
				}
			}
			if !vwcGet {
				t.Errorf("ClusterRole %s does not let sealgate get its webhook configuration %s: %+v", r.clusterRole.Name, r.vwc.Name, r.clusterRole.Rules)
			}
			checkRules(t, r.clusterRole.Rules, slices.Concat(workloadRules, reportRules), nil)
			api := "openreports.io/v1alpha1"
			if s.name == "tuned" {
				api = "wgpolicyk8s.io/v1alpha2"
			}
			if r.args["--audit"] != "true" || r.args["--audit-report-api"] != api {
				t.Errorf("--audit=%s --audit-report-api=%s, want true and %s", r.args["--audit"], r.args["--audit-report-api"], api)
			}
		})
	}
	r := inspect(t, render(t, "--set", "audit.enabled=false"))
	checkRules(t, r.clusterRole.Rules, workloadRules, reportRules)
	if r.args["--audit"] != "false" {
		t.Errorf("audit.enabled=false passes --audit=%s", r.args["--audit"])
	}
}

// checkRules: every rule of want is in got, and none of absent.
func checkRules(t *testing.T, got, want, absent []rbacv1.PolicyRule) {
	t.Helper()
	has := func(w rbacv1.PolicyRule) bool {
		return slices.ContainsFunc(got, func(g rbacv1.PolicyRule) bool { return reflect.DeepEqual(g, w) })
	}
	for _, w := range want {
		if !has(w) {
			t.Errorf("ClusterRole lacks %+v", w)
		}
	}
	for _, a := range absent {
		if has(a) {
			t.Errorf("ClusterRole grants %+v", a)
		}
	}
}

// TestPolicyPrinterColumns: kubectl get cap shows MODE, READY, VIOLATIONS (the audit's count of
// violating objects, an integer) and AGE.
func TestPolicyPrinterColumns(t *testing.T) {
	var crd struct {
		Spec struct {
			Versions []struct {
				Columns []struct {
					Name     string `json:"name"`
					Type     string `json:"type"`
					JSONPath string `json:"jsonPath"`
				} `json:"additionalPrinterColumns"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(readFile(t, filepath.Join(chartDir, "crds", crdFile)), &crd); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range crd.Spec.Versions {
		for _, c := range v.Columns {
			got = append(got, c.Name+" "+c.Type+" "+c.JSONPath)
		}
	}
	want := []string{
		"Mode string .spec.mode",
		`Ready string .status.conditions[?(@.type=="Ready")].status`,
		"Violations integer .status.audit.violatingObjects",
		"Age date .metadata.creationTimestamp",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("printer columns of %s (-want +got):\n%s", crdFile, diff)
	}
}
