package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/audit"
)

// auditReportFixture is a cluster with a violating Deployment in prod, a clean pod in dev, an empty
// namespace and a privileged pod in kube-system, which the webhook never sees.
func auditReportFixture(t *testing.T) string {
	f := newFakeAPI(t)
	for _, ns := range []string{"dev", "kube-system", "prod", "quiet"} {
		f.addNamespace(ns, nil)
	}
	f.add(auditDeployment("prod", "web", auditImage, true, 2)...)
	f.add(auditPod("dev", "tool", auditImage, false, nil), auditPod("kube-system", "proxy", auditImage, true, nil))
	f.addPolicy(auditPolicy("no-privileged", "Enforce", noPrivileged))
	return f.start()
}

// splitYAML splits a YAML stream at its document separators.
func splitYAML(t *testing.T, stream string) [][]byte {
	t.Helper()
	var docs [][]byte
	for _, d := range strings.Split("\n"+stream, "\n---\n") {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func TestAuditReportOutput(t *testing.T) {
	stdout, stderr, code := runAudit(t, auditReportFixture(t), "-o", "report")
	if code != ExitDenied {
		t.Fatalf("exit %d, want %d; stderr: %s", code, ExitDenied, stderr)
	}
	docs := splitYAML(t, stdout)
	if len(docs) != 3 {
		t.Fatalf("%d documents, want a Report for dev and prod and the ClusterReport:\n%s", len(docs), stdout)
	}
	var reports []orv1alpha1.Report
	for _, d := range docs[:2] {
		var r orv1alpha1.Report
		if err := yaml.UnmarshalStrict(d, &r); err != nil {
			t.Fatalf("%v\n%s", err, d)
		}
		reports = append(reports, r)
	}
	for i, ns := range []string{"dev", "prod"} {
		r := reports[i]
		if r.APIVersion != audit.APIOpenReports || r.Kind != "Report" || r.Name != audit.ReportName || r.Namespace != ns ||
			r.Labels[audit.LabelManagedBy] != "sealgate" {
			t.Errorf("document %d: %s %s %s/%s %v, want an OpenReports Report sealgate in %s", i+1, r.APIVersion, r.Kind,
				r.Namespace, r.Name, r.Labels, ns)
		}
	}
	if got := reports[0]; len(got.Results) != 1 || got.Results[0].Result != audit.ResultPass || got.Summary.Pass != 1 {
		t.Errorf("dev report: %+v, want one pass result", got.Results)
	}
	prod := reports[1]
	if len(prod.Results) != 1 || prod.Summary.Fail != 1 {
		t.Fatalf("prod report: %+v, want one fail result", prod.Results)
	}
	res := prod.Results[0]
	wantSubject := corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "prod", Name: "web", UID: "uid-web"}
	if res.Policy != "no-privileged" || res.Rule != "containers.privileged" || res.Result != audit.ResultFail ||
		res.Properties["path"] != "spec.template.spec.containers[0].securityContext.privileged" || res.Properties["pods"] != "2" ||
		len(res.Subjects) != 1 || res.Subjects[0] != wantSubject || res.Timestamp.Seconds == 0 || res.Description == "" {
		t.Errorf("prod result: %+v", res)
	}
	var cr orv1alpha1.ClusterReport
	if err := yaml.UnmarshalStrict(docs[2], &cr); err != nil {
		t.Fatalf("%v\n%s", err, docs[2])
	}
	if cr.Kind != "ClusterReport" || cr.Name != audit.ClusterReportName || cr.Summary.Fail != 1 || len(cr.Results) != 1 ||
		cr.Results[0].Policy != "no-privileged" || cr.Results[0].Rule != "containers.privileged" {
		t.Errorf("ClusterReport %s %s: summary %+v, results %+v", cr.Kind, cr.Name, cr.Summary, cr.Results)
	}
}

func TestAuditReportOutputPolicyWG(t *testing.T) {
	stdout, stderr, code := runAudit(t, auditReportFixture(t), "-o", "report", "--report-api", audit.APIPolicyWG)
	if code != ExitDenied {
		t.Fatalf("exit %d, want %d; stderr: %s", code, ExitDenied, stderr)
	}
	type doc struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct{ Name, Namespace string }
		Summary    struct{ Pass, Fail int }
		Results    []struct{ Policy, Rule, Result string }
	}
	var got []string
	for _, d := range splitYAML(t, stdout) {
		var r doc
		if err := yaml.Unmarshal(d, &r); err != nil {
			t.Fatalf("%v\n%s", err, d)
		}
		got = append(got, fmt.Sprintf("%s %s %s/%s pass=%d fail=%d results=%d", r.APIVersion, r.Kind, r.Metadata.Namespace,
			r.Metadata.Name, r.Summary.Pass, r.Summary.Fail, len(r.Results)))
	}
	want := []string{
		"wgpolicyk8s.io/v1alpha2 PolicyReport dev/sealgate pass=1 fail=0 results=1",
		"wgpolicyk8s.io/v1alpha2 PolicyReport prod/sealgate pass=0 fail=1 results=1",
		"wgpolicyk8s.io/v1alpha2 ClusterPolicyReport /sealgate-summary pass=0 fail=1 results=1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
}

func TestAuditTextOutput(t *testing.T) {
	f := newFakeAPI(t)
	for _, ns := range []string{"dev", "prod", "quiet"} {
		f.addNamespace(ns, nil)
	}
	f.add(auditDeployment("prod", "web", "nginx:latest", true, 2)...)
	f.add(auditPod("prod", "solo", auditImage, true, nil), auditPod("dev", "tool", "nginx:latest", false, nil))
	// Listed warn first, so the engine finds the warning on web before the denial.
	f.addPolicy(auditPolicy("a-latest", "Warn", noLatest))
	f.addPolicy(auditPolicy("b-privileged", "Enforce", noPrivileged))
	kubeconfig := f.start()

	// A file is not a terminal: stderr gets the scope note and no progress line.
	errFile, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	var stdout bytes.Buffer
	code := Execute(context.Background(), []string{"audit", "--kubeconfig", kubeconfig}, IO{In: strings.NewReader(""), Out: &stdout, Err: errFile})
	stderr, err := os.ReadFile(errFile.Name())
	if err != nil {
		t.Fatal(err)
	}
	if code != ExitDenied {
		t.Fatalf("exit %d, want %d; stderr: %s", code, ExitDenied, stderr)
	}
	if bytes.ContainsAny(stderr, "\r\033") {
		t.Errorf("progress escape sequences on a stderr that is not a terminal: %q", stderr)
	}
	requests := len(f.seen())

	latest := `container "app" image "nginx:latest" uses the :latest tag; use a version tag or a digest, e.g. docker.io/library/nginx:1.2.3`
	privileged := func(path string) string {
		return path + `: container "app" sets privileged: true`
	}
	want := []string{
		"Policy a-latest (Warn) would warn on 2 objects (3 pods) in 2 namespaces (dev: 1, prod: 1)",
		"  images.disallowLatestTag                 2 objects (3 pods) in 2 namespaces (dev: 1, prod: 1)",
		"Policy b-privileged (Enforce) would deny 2 objects (3 pods) in 1 namespace (prod: 2)",
		"  containers.privileged                    2 objects (3 pods) in 1 namespace (prod: 2)",
		"",
		"Namespaces, worst first:",
		"  prod                           2 denied, 1 warned, 0 audited of 2 objects (3 pods)",
		"  dev                            0 denied, 1 warned, 0 audited of 1 object (1 pod)",
		"",
		"Pod dev/tool (1 pod): ADMITTED",
		"  warn   spec.containers[0].image: " + latest + " [a-latest/images.disallowLatestTag]",
		"Deployment prod/web (2 pods): DENIED",
		"  deny   " + privileged("spec.template.spec.containers[0].securityContext.privileged"),
		"  warn   spec.template.spec.containers[0].image: " + latest + " [a-latest/images.disallowLatestTag]",
		"Pod prod/solo (1 pod): DENIED",
		"  deny   " + privileged("spec.containers[0].securityContext.privileged"),
		"",
		"3 objects (4 pods) audited in 2 namespaces: 2 would be denied, 2 warned, 0 audited",
		fmt.Sprintf("2 policies from the cluster; scope from the default webhook configuration for namespace sealgate-system; "+
			"6 objects listed in %d API requests", requests),
	}
	got := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(got), len(want), stdout.String())
	}
	for i := range want {
		// A privileged line goes on with the rule's advice; what matters is its start and its rule.
		if strings.HasPrefix(want[i], "  deny ") {
			if !strings.HasPrefix(got[i], want[i]) || !strings.HasSuffix(got[i], "[b-privileged/containers.privileged]") {
				t.Errorf("line %d:\n got %q\nwant %q…[b-privileged/containers.privileged]", i+1, got[i], want[i])
			}
			continue
		}
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %q\nwant %q", i+1, got[i], want[i])
		}
	}

	// The denial comes first in the text although the engine found the warning first.
	out, _ := runAuditJSON(t, kubeconfig, ExitDenied)
	for _, r := range out.Results {
		if r.Name == "web" && (len(r.Violations) != 2 || r.Violations[0].Mode != "Warn") {
			t.Errorf("web's violations in -o json: %+v; the ordering check above needs the warning first", r.Violations)
		}
	}
}

func TestAuditSkipSignaturesIsReported(t *testing.T) {
	f := newFakeAPI(t)
	f.addNamespace("prod", nil)
	f.add(auditPod("prod", "debug", auditImage, true, nil))
	f.addPolicy(auditPolicy("no-privileged", "Enforce", noPrivileged))
	f.webhook = auditWebhook(t)
	kubeconfig := f.start()
	for _, skip := range []bool{false, true} {
		args := []string{}
		if skip {
			args = append(args, "--skip-signatures")
		}
		out, _ := runAuditJSON(t, kubeconfig, ExitDenied, args...)
		text, _, _ := runAudit(t, kubeconfig, args...)
		said := strings.HasSuffix(text, "\nsignatures were not verified (--skip-signatures)\n")
		if out.SignaturesSkipped != skip || said != skip {
			t.Errorf("--skip-signatures=%v: signaturesSkipped %v, said so in the text %v", skip, out.SignaturesSkipped, said)
		}
	}
}
