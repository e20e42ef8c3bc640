//go:build helm

package helm

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The steps of TestInstallUpgradeUninstall about what the chart exposes: metrics behind the API
// server's authentication and authorization, and the Lease that elects the status writer.

// metricsToken returns a token of the ServiceAccount monitoring/prometheus, bound to the chart's
// ClusterRole <release>-metrics-reader, as docs/install.md tells Prometheus to be.
func (r *release) metricsToken(t *testing.T) string {
	t.Helper()
	if r.scraper == "" {
		r.mustKubectl(t, "", "create", "namespace", "monitoring")
		r.mustKubectl(t, "", "-n", "monitoring", "create", "serviceaccount", "prometheus")
		r.mustKubectl(t, "", "create", "clusterrolebinding", "prometheus-sealgate-metrics",
			"--clusterrole="+r.name+"-metrics-reader", "--serviceaccount=monitoring:prometheus")
		r.scraper = strings.TrimSpace(r.mustKubectl(t, "", "-n", "monitoring", "create", "token", "prometheus"))
	}
	return r.scraper
}

// metrics: /metrics is served over HTTPS only, and each caller is checked with the API server, which
// sealgate may ask under the chart's RBAC: no token is 401, a ServiceAccount without the
// metrics-reader role is 403, a bound one gets the metrics.
func (r *release) metrics(t *testing.T, sg *localSealgate) {
	if code, body := sg.scrape(t, ""); code != http.StatusUnauthorized {
		t.Errorf("scrape without a token: HTTP %d, want 401: %.200s", code, body)
	}
	r.mustKubectl(t, "", "-n", "monitoring", "create", "serviceaccount", "nobody")
	nobody := strings.TrimSpace(r.mustKubectl(t, "", "-n", "monitoring", "create", "token", "nobody"))
	if code, body := sg.scrape(t, nobody); code != http.StatusForbidden {
		t.Errorf("scrape by a ServiceAccount without %s-metrics-reader: HTTP %d, want 403: %.200s", r.name, code, body)
	}
	code, body := sg.scrape(t, r.metricsToken(t))
	if code != http.StatusOK || !strings.Contains(body, "sealgate_admission_decisions_total") {
		t.Errorf("scrape by monitoring/prometheus: HTTP %d, want 200 with sealgate's metrics: %.200s", code, body)
	}
	// Plain HTTP on the metrics port gets no metrics (Go's TLS server answers it with a 400).
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + sg.metrics + "/metrics")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("/metrics answered over plain HTTP")
		}
	}
	out, _, _ := r.kubectl(t, "", "auth", "can-i", "get", "/metrics", "--as=system:serviceaccount:monitoring:prometheus")
	if strings.TrimSpace(out) != "yes" {
		t.Errorf("can monitoring/prometheus get /metrics? %q, want yes", out)
	}
}

// leaderElection: sealgate holds the Lease the chart names (--leader-election-id) in the release
// namespace, created and renewed under the chart's Role.
func (r *release) leaderElection(t *testing.T) {
	eventually(t, settleTimeout, "the Lease "+r.ns+"/"+r.name+" held", func() (bool, string) {
		out, errOut, _ := r.kubectl(t, "", "-n", r.ns, "get", "lease", r.name, "-o", "jsonpath={.spec.holderIdentity}")
		return strings.TrimSpace(out) != "", out + errOut
	})
}
