//go:build helm

package helm

import (
	"net/http"
	"strings"
	"testing"
)

// The steps of TestInstallUpgradeUninstall, in the order of docs/install.md.

const denied = `admission webhook "workloads.sealgate.dev" denied the request`

// audit: the first install reports and admits. The policy's status says it is in force (sealgate wrote
// it, under the chart's RBAC), a privileged pod is admitted, and the violation is counted and logged.
func (r *release) audit(t *testing.T, sg *localSealgate) {
	eventually(t, settleTimeout, "the baseline policy's status Ready=True", func() (bool, string) {
		out, errOut, _ := r.kubectl(t, "", "get", "cap", "baseline", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return out == "True", out + errOut
	})
	r.mustKubectl(t, "", "create", "namespace", "apps")
	out, errOut, code := r.kubectl(t, pod("privileged-audit", "apps", true), "apply", "-f", "-")
	if code != 0 {
		t.Fatalf("Audit mode must admit: exit %d\n%s%s", code, out, errOut)
	}
	code, text := sg.scrape(t, r.metricsToken(t))
	if code != http.StatusOK {
		t.Fatalf("scraping with a token bound to %s-metrics-reader: HTTP %d: %s", r.name, code, text)
	}
	var line string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "sealgate_violations_total{") && strings.Contains(l, `decision="audited"`) &&
			strings.Contains(l, `policy="baseline"`) && strings.Contains(l, `rule="podSecurity.privileged"`) {
			line = l
		}
	}
	if line == "" || strings.HasSuffix(line, " 0") {
		t.Errorf("no audited violation of baseline/podSecurity.privileged in /metrics (got %q)", line)
	}
	if !strings.Contains(sg.log.String(), "audit violations") {
		t.Error(`sealgate logged no "audit violations" entry`)
	}
	if got := r.mustKubectl(t, "", "get", "cap"); !strings.Contains(got, "baseline") || !strings.Contains(got, "Audit") {
		t.Errorf("kubectl get cap:\n%s", got)
	}
}

// enforce: the CRD is re-applied and helm upgrade switches the chart's policy to Enforce; the change passes sealgate's policy
// webhook, and from then on a privileged pod is denied with the field and the rule, while a pod that
// meets the baseline is admitted.
func (r *release) enforce(t *testing.T) {
	// The upgrade procedure of docs/install.md: the CRD first, then the release.
	crds := r.helm(t, "show", "crds", chartDir)
	r.mustKubectl(t, crds, "apply", "--server-side", "--force-conflicts", "-f", "-")
	r.helm(t, "upgrade", r.name, chartDir, "--reuse-values", "--set", "policies.baseline.mode=Enforce", "--timeout=60s")
	if got := r.mustKubectl(t, "", "get", "cap", "baseline", "-o", "jsonpath={.spec.mode}"); got != "Enforce" {
		t.Fatalf("after helm upgrade the policy is in mode %q", got)
	}
	eventually(t, settleTimeout, "a privileged pod denied (dry run)", func() (bool, string) {
		out, errOut, code := r.kubectl(t, pod("privileged-enforce", "apps", true), "apply", "--dry-run=server", "-f", "-")
		return code != 0 && strings.Contains(errOut, denied), out + errOut
	})
	_, errOut, code := r.kubectl(t, pod("privileged-enforce", "apps", true), "apply", "-f", "-")
	for _, want := range []string{denied, "spec.containers[0].securityContext.privileged", "[baseline/podSecurity.privileged]"} {
		if code == 0 || !strings.Contains(errOut, want) {
			t.Errorf("want a denial naming %q; exit %d: %s", want, code, errOut)
		}
	}
	r.mustKubectl(t, pod("plain", "apps", false), "apply", "-f", "-")
}

// rbac: what the chart's ServiceAccount may and may not do, asked of the API server's authorizer.
func (r *release) rbac(t *testing.T) {
	as := "--as=system:serviceaccount:" + r.ns + ":sealgate"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"update", "validatingwebhookconfigurations/sealgate"}, "yes"},
		{[]string{"list", "validatingwebhookconfigurations"}, "no"},
		{[]string{"update", "validatingwebhookconfigurations/someone-elses"}, "no"},
		{[]string{"delete", "validatingwebhookconfigurations/sealgate"}, "no"},
		{[]string{"create", "validatingwebhookconfigurations"}, "no"},
		{[]string{"update", "secrets/sealgate-webhook-cert", "-n", r.ns}, "yes"},
		{[]string{"create", "secrets", "-n", r.ns}, "yes"},
		{[]string{"update", "secrets/other", "-n", r.ns}, "no"},
		{[]string{"delete", "secrets/sealgate-webhook-cert", "-n", r.ns}, "no"},
		{[]string{"get", "secrets/any", "-n", "apps"}, "no"},
		// Signing material (attestor keys, trusted roots) in sealgate's namespace: get, never list.
		{[]string{"get", "secrets/release-key", "-n", r.ns}, "yes"},
		{[]string{"get", "configmaps/trusted-root", "-n", r.ns}, "yes"},
		{[]string{"list", "configmaps", "-n", r.ns}, "no"},
		{[]string{"update", "configmaps/trusted-root", "-n", r.ns}, "no"},
		{[]string{"get", "configmaps/any", "-n", "apps"}, "no"},
		{[]string{"get", "serviceaccounts/default", "-n", "apps"}, "no"},
		{[]string{"list", "secrets", "-n", "kube-system"}, "no"},
		{[]string{"list", "secrets", "--all-namespaces"}, "no"},
		{[]string{"watch", "clusteradmissionpolicies.sealgate.dev"}, "yes"},
		{[]string{"patch", "clusteradmissionpolicies.sealgate.dev", "--subresource=status"}, "yes"},
		{[]string{"update", "clusteradmissionpolicies.sealgate.dev"}, "no"},
		{[]string{"delete", "clusteradmissionpolicies.sealgate.dev"}, "no"},
		{[]string{"watch", "policyexceptions.sealgate.dev", "--all-namespaces"}, "yes"},
		{[]string{"patch", "policyexceptions.sealgate.dev", "--subresource=status", "-n", "apps"}, "yes"},
		{[]string{"create", "policyexceptions.sealgate.dev", "-n", r.ns}, "no"},
		{[]string{"update", "policyexceptions.sealgate.dev", "-n", r.ns}, "no"},
		{[]string{"list", "namespaces"}, "yes"},
		{[]string{"update", "namespaces"}, "no"},
		{[]string{"create", "pods", "-n", "apps"}, "no"},
		// The audit: its own webhook configuration's selectors, the pod-bearing kinds read only, reports.
		{[]string{"get", "validatingwebhookconfigurations/sealgate"}, "yes"},
		// The ValidatingAdmissionPolicies and bindings generated for spec.fallback.
		{[]string{"create", "validatingadmissionpolicies.admissionregistration.k8s.io"}, "yes"},
		{[]string{"delete", "validatingadmissionpolicybindings.admissionregistration.k8s.io/sealgate-any"}, "yes"},
		{[]string{"watch", "validatingadmissionpolicies.admissionregistration.k8s.io"}, "yes"},
		{[]string{"get", "validatingwebhookconfigurations/someone-elses"}, "no"},
		{[]string{"watch", "pods", "--all-namespaces"}, "yes"},
		{[]string{"list", "deployments.apps", "--all-namespaces"}, "yes"},
		{[]string{"watch", "cronjobs.batch", "--all-namespaces"}, "yes"},
		{[]string{"get", "pods/any", "-n", "apps"}, "no"},
		{[]string{"update", "deployments.apps/any", "-n", "apps"}, "no"},
		{[]string{"delete", "pods/any", "-n", "apps"}, "no"},
		{[]string{"create", "reports.openreports.io", "-n", "apps"}, "yes"},
		{[]string{"delete", "clusterreports.openreports.io/sealgate-summary"}, "yes"},
		{[]string{"patch", "policyreports.wgpolicyk8s.io", "-n", "apps"}, "yes"},
		// Leader election: the Lease named after the release, in the release namespace; no Events.
		{[]string{"create", "leases.coordination.k8s.io", "-n", r.ns}, "yes"},
		{[]string{"update", "leases.coordination.k8s.io/sealgate", "-n", r.ns}, "yes"},
		{[]string{"update", "leases.coordination.k8s.io/someone-elses", "-n", r.ns}, "no"},
		{[]string{"delete", "leases.coordination.k8s.io/sealgate", "-n", r.ns}, "no"},
		{[]string{"create", "leases.coordination.k8s.io", "-n", "apps"}, "no"},
		{[]string{"create", "events", "-n", r.ns}, "no"},
		{[]string{"create", "events.events.k8s.io", "-n", r.ns}, "no"},
		// Secure metrics: sealgate asks the API server about scrapers, and may not scrape itself.
		{[]string{"create", "tokenreviews.authentication.k8s.io"}, "yes"},
		{[]string{"create", "subjectaccessreviews.authorization.k8s.io"}, "yes"},
		{[]string{"get", "/metrics"}, "no"},
	} {
		out, _, _ := r.kubectl(t, "", append([]string{"auth", "can-i", as}, c.args...)...)
		if got := strings.TrimSpace(out); got != c.want {
			t.Errorf("can sealgate %s? %q, want %q", strings.Join(c.args, " "), got, c.want)
		}
	}
	// The exception editor, bound by a RoleBinding in the release namespace (where the policies
	// accept exceptions from by default), may manage exceptions there and nowhere else.
	r.mustKubectl(t, "", "create", "rolebinding", "exception-editors", "-n", r.ns,
		"--clusterrole="+r.name+"-exception-editor", "--user=platform-lead")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "policyexceptions.sealgate.dev", "-n", r.ns}, "yes"},
		{[]string{"delete", "policyexceptions.sealgate.dev", "-n", r.ns}, "yes"},
		{[]string{"create", "policyexceptions.sealgate.dev", "-n", "apps"}, "no"},
		{[]string{"patch", "policyexceptions.sealgate.dev", "--subresource=status", "-n", r.ns}, "no"},
		{[]string{"update", "clusteradmissionpolicies.sealgate.dev"}, "no"},
	} {
		out, _, _ := r.kubectl(t, "", append([]string{"auth", "can-i", "--as=platform-lead"}, c.args...)...)
		if got := strings.TrimSpace(out); got != c.want {
			t.Errorf("can an exception editor %s? %q, want %q", strings.Join(c.args, " "), got, c.want)
		}
	}
}

// breakGlass, with sealgate stopped: the webhook fails closed outside the excluded namespaces, the
// excluded namespaces still work, deleting the webhook configuration always works (webhooks are never
// called for webhook configurations) and unblocks the cluster, and helm upgrade puts it back.
func (r *release) breakGlass(t *testing.T) {
	_, errOut, code := r.kubectl(t, pod("while-down", "apps", false), "apply", "-f", "-")
	if code == 0 || !strings.Contains(errOut, `failed calling webhook "workloads.sealgate.dev"`) {
		t.Errorf("with sealgate down a pod in apps must be rejected (failurePolicy Fail); exit %d: %s", code, errOut)
	}
	for _, ns := range []string{"kube-system", r.ns} {
		r.mustKubectl(t, pod("while-down", ns, true), "apply", "-f", "-")
	}
	r.mustKubectl(t, "", "delete", "validatingwebhookconfiguration", r.name)
	r.mustKubectl(t, pod("while-down", "apps", false), "apply", "-f", "-")

	r.helm(t, "upgrade", r.name, chartDir, "--reuse-values", "--timeout=60s")
	r.mustKubectl(t, "", "get", "validatingwebhookconfiguration", r.name)
}

// uninstall: helm uninstall leaves no webhook configuration, policy, Secret or RBAC behind. The CRDs
// stay: Helm never deletes what a chart's crds/ directory installed, so policies survive a reinstall.
func (r *release) uninstall(t *testing.T) {
	r.helm(t, "uninstall", r.name, "--wait", "--timeout=60s")
	for _, args := range [][]string{
		{"get", "validatingwebhookconfigurations", "-o", "name"},
		{"get", "clusteradmissionpolicies", "-o", "name"},
		{"get", "clusterroles,clusterrolebindings", "-l", "app.kubernetes.io/instance=" + r.name, "-o", "name"},
		{"get", "all,secrets,configmaps,serviceaccounts,roles,rolebindings,poddisruptionbudgets,networkpolicies", "-n", r.ns, "-l", "app.kubernetes.io/instance=" + r.name, "-o", "name"},
		{"get", "secret", "sealgate-webhook-cert", "-n", r.ns, "--ignore-not-found", "-o", "name"},
	} {
		if out := r.mustKubectl(t, "", args...); strings.TrimSpace(out) != "" {
			t.Errorf("left behind after helm uninstall (kubectl %s):\n%s", strings.Join(args, " "), out)
		}
	}
	r.mustKubectl(t, "", "get", "crd", "clusteradmissionpolicies.sealgate.dev", "policyexceptions.sealgate.dev")
}
