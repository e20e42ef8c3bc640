//go:build helm

package helm

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/test/cluster"
)

// TestReportCRDsInstall installs the chart into a real kube-apiserver whose report CRDs were installed
// by someone else (the test control plane loads every CRD in config/crd/bases, as Kyverno or Policy
// Reporter would have): the chart skips those, where Helm would otherwise refuse to take them over and
// fail the install; it installs the ones that are missing, keeps managing them on upgrade, and leaves
// them in place on uninstall. sealgate itself does not run: only the chart's objects are looked at.
func TestReportCRDsInstall(t *testing.T) {
	c, err := cluster.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	r := &release{c: c, name: "sealgate", ns: "security", port: freePort(t)}
	const (
		wgpolicy    = "wgpolicyk8s.io/v1alpha2"
		openreports = "openreports.io/v1alpha1"
	)
	policyReports := []string{"policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io"}
	reports := []string{"reports.openreports.io", "clusterreports.openreports.io"}
	for _, crd := range policyReports {
		r.mustKubectl(t, "", "delete", "crd", crd, "--wait", "--timeout=30s")
	}
	// owner is the release a CRD's annotations name, "" for none.
	owner := func(crd string) string {
		t.Helper()
		return strings.TrimSpace(r.mustKubectl(t, "", "get", "crd", crd, "-o", `jsonpath={.metadata.annotations.meta\.helm\.sh/release-name}`))
	}
	install := func(verb, api string) {
		t.Helper()
		args := []string{verb, r.name, chartDir, "--timeout=60s", "-f", filepath.Join(chartDir, "ci", "local-values.yaml"),
			"--set", "webhook.url=https://localhost:" + strconv.Itoa(r.port), "--set", "audit.reportAPI=" + api,
			"--set", "policies.baseline.enabled=false"} // no policy to patch: no sealgate answers the policy webhook
		if verb == "install" {
			args = append(args, "--create-namespace")
		}
		r.helm(t, args...)
	}

	// Missing: installed, with the keep policy. Present and someone else's: left alone.
	install("install", wgpolicy)
	for _, crd := range policyReports {
		if got := owner(crd); got != r.name {
			t.Errorf("%s: release %q, want it installed by %s", crd, got, r.name)
		}
		policy := r.mustKubectl(t, "", "get", "crd", crd, "-o", `jsonpath={.metadata.annotations.helm\.sh/resource-policy}`)
		if policy != "keep" {
			t.Errorf("%s: helm.sh/resource-policy %q, want keep", crd, policy)
		}
	}
	install("upgrade", openreports)
	for _, crd := range reports {
		if got := owner(crd); got != "" {
			t.Errorf("%s was installed by someone else, but release %q took it over", crd, got)
		}
	}
	// Switching back: the CRDs this release installed are its own and rendered again.
	install("upgrade", wgpolicy)
	if out := r.helm(t, "get", "manifest", r.name); !strings.Contains(out, "name: "+policyReports[0]) {
		t.Errorf("after switching back to %s the release does not manage %s", wgpolicy, policyReports[0])
	}

	r.helm(t, "uninstall", r.name, "--wait", "--timeout=60s")
	for _, crd := range append(policyReports, reports...) {
		r.mustKubectl(t, "", "get", "crd", crd)
	}
}
