package cli

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// --audit is on by default, writing OpenReports; --audit-report-api takes only the APIs sealgate
// writes.
func TestServeAuditFlags(t *testing.T) {
	parse := func(args ...string) (*serveOptions, error) {
		o := &serveOptions{}
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		o.AddFlags(fs)
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		return o, o.Validate()
	}
	o, err := parse()
	if err != nil {
		t.Fatal(err)
	}
	if !o.Cluster.Audit || o.Cluster.AuditReportAPI != "openreports.io/v1alpha1" {
		t.Errorf("defaults: audit %v, report API %q", o.Cluster.Audit, o.Cluster.AuditReportAPI)
	}
	if _, err := parse("--audit=false", "--audit-report-api", "wgpolicyk8s.io/v1alpha2"); err != nil {
		t.Errorf("the Policy WG API: %v", err)
	}
	_, err = parse("--audit-report-api", "reports.example.com/v1")
	if err == nil || !strings.Contains(err.Error(), `--audit-report-api "reports.example.com/v1": want openreports.io/v1alpha1 or wgpolicyk8s.io/v1alpha2`) {
		t.Errorf("an unknown API: %v", err)
	}
}
