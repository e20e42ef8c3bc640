package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/webhookconfig"
	"github.com/sealgate/sealgate/pkg/workload"
)

func TestAuditPagesEveryList(t *testing.T) {
	f := newFakeAPI(t)
	for _, ns := range []string{"a", "b", "c"} {
		f.addNamespace(ns, nil)
	}
	for i, ns := range []string{"a", "a", "a", "b", "b"} {
		f.add(auditPod(ns, fmt.Sprintf("p%d", i+1), auditImage, true, nil))
	}
	f.addPolicy(auditPolicy("no-privileged", "Enforce", noPrivileged))
	out, _ := runAuditJSON(t, f.start(), ExitDenied, "--page-size", "2")

	want := []string{"Pod a/p1", "Pod a/p2", "Pod a/p3", "Pod b/p4", "Pod b/p5"}
	if diff := cmp.Diff(want, resultNames(out)); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if out.Summary.Pods != 5 || out.Listed != 5 {
		t.Errorf("summary.pods %d, listed %d; want 5 and 5", out.Summary.Pods, out.Listed)
	}
	pods := f.seenPath("/api/v1/pods")
	var conts []string
	for _, u := range pods {
		if u.Query().Get("limit") != "2" {
			t.Errorf("%s: want limit=2", u)
		}
		conts = append(conts, u.Query().Get("continue"))
	}
	if len(pods) != 3 {
		t.Errorf("%d list requests for pods, want 3", len(pods))
	}
	f.mu.Lock()
	issued := append([]string{""}, f.issued["pods"]...)
	f.mu.Unlock()
	if diff := cmp.Diff(issued, conts); diff != "" {
		t.Errorf("continue tokens sent back (-handed out +sent):\n%s", diff)
	}
	if n := len(f.seenPath("/api/v1/namespaces")); n != 2 {
		t.Errorf("%d list requests for 3 namespaces at 2 a page, want 2", n)
	}
	if n := len(f.seen()); out.APIRequests != n {
		t.Errorf("apiRequests %d, the server saw %d", out.APIRequests, n)
	}
}

func TestAuditExpiredContinueToken(t *testing.T) {
	f := newFakeAPI(t)
	f.addNamespace("a", nil)
	for i := range 3 {
		f.add(auditPod("a", fmt.Sprintf("p%d", i), auditImage, true, nil))
	}
	f.addPolicy(auditPolicy("no-privileged", "Enforce", noPrivileged))
	// As a real API server answers a token older than its compaction window: 410, reason Expired.
	f.expire = "pods"
	f.webhook = auditWebhook(t)
	stdout, stderr, code := runAudit(t, f.start(), "--page-size", "2")
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d; stderr: %s", code, ExitUsage, stderr)
	}
	if stdout != "" {
		t.Errorf("a partial audit was printed:\n%s", stdout)
	}
	want := "error: listing pods: the list expired between pages (the cluster changed too much); run the audit again, or with a larger --page-size\n"
	if stderr != want {
		t.Errorf("stderr:\n%q\nwant\n%q", stderr, want)
	}
}

func TestAuditReportsPodsThroughTheirOwner(t *testing.T) {
	tests := []struct {
		mode     string
		args     []string
		code     int
		allowed  bool
		denied   int
		warned   int
		enforced bool
	}{
		{mode: "Enforce", code: ExitDenied, denied: 1},
		{mode: "Warn", code: ExitOK, allowed: true, warned: 1},
		{mode: "Warn", args: []string{"--as-enforce"}, code: ExitDenied, denied: 1, enforced: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{tt.mode}, tt.args...), " "), func(t *testing.T) {
			f := newFakeAPI(t)
			f.addNamespace("prod", nil)
			f.add(auditDeployment("prod", "web", auditImage, true, 3)...)
			f.add(auditPod("prod", "solo", auditImage, false, nil))
			f.addPolicy(auditPolicy("no-privileged", tt.mode, noPrivileged))
			out, _ := runAuditJSON(t, f.start(), tt.code, tt.args...)

			if len(out.Results) != 1 {
				t.Fatalf("results %v, want the Deployment alone", resultNames(out))
			}
			r := out.Results[0]
			if r.APIVersion != "apps/v1" || r.Kind != "Deployment" || r.Namespace != "prod" || r.Name != "web" ||
				r.UID != "uid-web" || r.Source != "cluster" || !slices.Equal(r.Policies, []string{"no-privileged"}) ||
				r.Pods != 3 || r.Allowed != tt.allowed {
				t.Errorf("result %+v, want Deployment prod/web (uid-web) from the cluster with 3 pods, allowed %v", r, tt.allowed)
			}
			// The pods say what the template says: one violation, the template's.
			if len(r.Violations) != 1 || r.Violations[0].Object != "" || r.Violations[0].Rule != "containers.privileged" ||
				r.Violations[0].Path != "spec.template.spec.containers[0].securityContext.privileged" {
				t.Errorf("violations %+v, want the template's privileged container once", r.Violations)
			}
			s := out.Summary
			if s.Objects != 2 || s.Pods != 4 || s.Denied != tt.denied || s.Warned != tt.warned {
				t.Errorf("summary %+v, want 2 objects, 4 pods, %d denied, %d warned", s, tt.denied, tt.warned)
			}
			if out.AsEnforce != tt.enforced || out.PolicySource != "cluster" || out.Listed != 6 {
				t.Errorf("asEnforce %v, policySource %q, listed %d; want %v, cluster, 6", out.AsEnforce, out.PolicySource, out.Listed, tt.enforced)
			}
		})
	}
}

func TestAuditPolicyFilesReplaceTheCluster(t *testing.T) {
	f := newFakeAPI(t)
	f.addNamespace("prod", nil)
	f.add(auditPod("prod", "debug", auditImage, true, nil))
	// The cluster's policy would only warn: exit 1 and the what-if's name show the file was used.
	f.addPolicy(auditPolicy("installed", "Warn", noPrivileged))
	file := filepath.Join(t.TempDir(), "what-if.yaml")
	if err := os.WriteFile(file, []byte(auditPolicy("what-if", "Enforce", noPrivileged)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := runAuditJSON(t, f.start(), ExitDenied, "--policy", file)

	if out.PolicySource != "files" {
		t.Errorf("policySource %q, want files", out.PolicySource)
	}
	if len(out.Results) != 1 || len(out.Results[0].Violations) != 1 || out.Results[0].Violations[0].Policy != "what-if" {
		t.Errorf("results %+v, want Pod prod/debug violating what-if only", out.Results)
	}
	if got := f.seenPath(auditPolicies); len(got) != 0 {
		t.Errorf("the cluster's policies were listed with --policy: %v", got)
	}
}

func TestAuditScope(t *testing.T) {
	// The configuration installed for namespace sg-system leaves out objects labelled skip.
	installed, err := webhookconfig.Validating(webhookconfig.Options{Namespace: "sg-system", URL: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	installed.Webhooks[0].ObjectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "skip", Operator: metav1.LabelSelectorOpDoesNotExist}}}
	if installed.Webhooks[0].Name != webhookconfig.WorkloadWebhook {
		t.Fatalf("first webhook is %s", installed.Webhooks[0].Name)
	}
	tests := []struct {
		name       string
		webhook    *admissionregistrationv1.ValidatingWebhookConfiguration
		forbidden  bool
		args       []string
		results    []string
		outOfScope int
		skipped    int
		scope      string
		note       string
	}{{
		name: "installed", webhook: installed,
		results:    []string{"Pod app/a1", "Pod sealgate-system/x1"},
		outOfScope: 3, skipped: 1, scope: "ValidatingWebhookConfiguration sealgate",
	}, {
		name:       "not installed",
		results:    []string{"Pod app/a1", "Pod app/a2", "Pod sg-system/s1"},
		outOfScope: 3, scope: "the default webhook configuration for namespace sealgate-system",
		note: "note: cannot read ValidatingWebhookConfiguration sealgate (not found); assuming the default scope (kube-system and sealgate-system excluded)\n",
	}, {
		name: "not readable", forbidden: true,
		results:    []string{"Pod app/a1", "Pod app/a2", "Pod sg-system/s1"},
		outOfScope: 3, scope: "the default webhook configuration for namespace sealgate-system",
		note: "note: cannot read ValidatingWebhookConfiguration sealgate (forbidden); assuming the default scope (kube-system and sealgate-system excluded)\n",
	}, {
		name: "not installed, --sealgate-namespace", args: []string{"--sealgate-namespace", "sg-system"},
		results:    []string{"Pod app/a1", "Pod app/a2", "Pod sealgate-system/x1"},
		outOfScope: 3, scope: "the default webhook configuration for namespace sg-system",
		note: "note: cannot read ValidatingWebhookConfiguration sealgate (not found); assuming the default scope (kube-system and sg-system excluded)\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			for _, ns := range []string{"app", "kube-system", "sealgate-system", "sg-system"} {
				f.addNamespace(ns, nil)
			}
			f.add(auditPod("kube-system", "k1", auditImage, true, nil), auditPod("kube-system", "k2", auditImage, true, nil),
				auditPod("sg-system", "s1", auditImage, true, nil), auditPod("sealgate-system", "x1", auditImage, true, nil),
				auditPod("app", "a1", auditImage, true, nil), auditPod("app", "a2", auditImage, true, map[string]string{"skip": "yes"}))
			f.webhook, f.webhookForbidden = tt.webhook, tt.forbidden
			f.addPolicy(auditPolicy("no-privileged", "Enforce", noPrivileged))
			out, stderr := runAuditJSON(t, f.start(), ExitDenied, tt.args...)

			if diff := cmp.Diff(tt.results, resultNames(out)); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if out.Summary.OutOfScope != tt.outOfScope || out.Summary.Skipped != tt.skipped || out.SkippedObjects != tt.outOfScope+tt.skipped {
				t.Errorf("outOfScope %d, skipped %d, skippedObjects %d; want %d, %d, %d", out.Summary.OutOfScope,
					out.Summary.Skipped, out.SkippedObjects, tt.outOfScope, tt.skipped, tt.outOfScope+tt.skipped)
			}
			if out.Scope != tt.scope {
				t.Errorf("scope %q, want %q", out.Scope, tt.scope)
			}
			if stderr != tt.note {
				t.Errorf("stderr %q, want %q", stderr, tt.note)
			}
		})
	}
}

func TestAuditOneNamespace(t *testing.T) {
	f := newFakeAPI(t)
	f.addNamespace("prod", nil)
	f.addNamespace("dev", nil)
	f.add(auditDeployment("prod", "web", auditImage, true, 1)...)
	f.add(auditPod("dev", "tool", auditImage, true, nil))
	f.addPolicy(auditPolicy("no-privileged", "Enforce", noPrivileged))
	out, _ := runAuditJSON(t, f.start(), ExitDenied, "-n", "prod")

	if diff := cmp.Diff([]string{"Deployment prod/web"}, resultNames(out)); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if len(out.Summary.Namespaces) != 1 || out.Summary.Namespaces[0].Namespace != "prod" {
		t.Errorf("summary.namespaces %+v, want prod alone", out.Summary.Namespaces)
	}
	var lists []string
	for _, u := range f.seen() {
		switch {
		case u.Path == "/api/v1/namespaces/prod", u.Path == auditPolicies,
			// Exceptions are listed in every namespace: one in sealgate's own may cover prod.
			u.Path == auditExceptions,
			u.Path == "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/sealgate":
		case strings.HasPrefix(u.Path, "/api/v1/namespaces/prod/"), strings.HasPrefix(u.Path, "/apis/apps/v1/namespaces/prod/"),
			strings.HasPrefix(u.Path, "/apis/batch/v1/namespaces/prod/"):
			lists = append(lists, u.Path)
		default:
			t.Errorf("request outside namespace prod: %s", u)
		}
	}
	if len(lists) != len(workload.Kinds) {
		t.Errorf("%d lists in prod, want one per pod-bearing kind (%d): %v", len(lists), len(workload.Kinds), lists)
	}
}

func TestAuditUsageErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		inStderr string
	}{
		{name: "-n with -A", args: []string{"-n", "prod", "-A"}, inStderr: "-n and --all-namespaces cannot be used together"},
		{name: "bad -o", args: []string{"-o", "yaml"}, inStderr: `-o "yaml": want text, json or report`},
		{name: "bad --report-api", args: []string{"-o", "report", "--report-api", "v1"}, inStderr: `--report-api "v1"`},
		{name: "page size 0", args: []string{"--page-size", "0"}, inStderr: "--page-size 0"},
		{name: "unknown namespace", args: []string{"-n", "nope"}, inStderr: "reading namespace nope"},
		{name: "missing policy file", args: []string{"--policy", "testdata/audit-nope.yaml"}, inStderr: "audit-nope.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.addNamespace("prod", nil)
			stdout, stderr, code := runAudit(t, f.start(), tt.args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr: %s", code, ExitUsage, stderr)
			}
			if stdout != "" || !strings.Contains(stderr, tt.inStderr) {
				t.Errorf("stdout %q, stderr %q; want nothing on stdout and %q on stderr", stdout, stderr, tt.inStderr)
			}
		})
	}
}

func TestAuditPodChangedByAWebhookAndForeignOwner(t *testing.T) {
	f := newFakeAPI(t)
	f.addNamespace("prod", nil)
	// A pod that violates what its Deployment's template does not, as after a mutating webhook.
	web := auditDeployment("prod", "web", auditImage, false, 2)
	web[3].(*corev1.Pod).Spec = auditPodSpec(auditImage, true)
	f.add(web...)
	// A pod whose controller is not a pod-bearing kind.
	f.add(auditPod("prod", "canary-x1", auditImage, true, nil, controllerOf("argoproj.io/v1alpha1", "Rollout", "canary")))
	f.addPolicy(auditPolicy("no-privileged", "Enforce", noPrivileged))
	out, _ := runAuditJSON(t, f.start(), ExitDenied)

	if diff := cmp.Diff([]string{"Deployment prod/web", "Rollout prod/canary"}, resultNames(out)); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	for _, r := range out.Results {
		switch r.Kind {
		case "Deployment":
			if r.Pods != 2 || r.Allowed || len(r.Violations) != 1 || r.Violations[0].Object != "Pod/web-5d8c9-x1" ||
				r.Violations[0].Path != "spec.containers[0].securityContext.privileged" {
				t.Errorf("web: %+v, want 2 pods and the violation of Pod/web-5d8c9-x1", r)
			}
		case "Rollout":
			if r.APIVersion != "argoproj.io/v1alpha1" || r.Pods != 1 || r.Allowed || len(r.Violations) != 1 ||
				r.Violations[0].Path != "spec.containers[0].securityContext.privileged" {
				t.Errorf("canary: %+v, want the Rollout with 1 pod and its pod's violation", r)
			}
		}
	}
}

func TestAuditClusterPolicyInForce(t *testing.T) {
	f := newFakeAPI(t)
	f.addNamespace("prod", nil)
	f.add(auditPod("prod", "debug", auditImage, true, nil))
	// The current spec does not compile: the webhook enforces the generation recorded in
	// status.inForce, and a policy without a record is not in force.
	f.addPolicy(auditPolicy("recorded", "Enforce", "containers: {privileged: Deny}") +
		"status:\n  inForce:\n    generation: 1\n    spec: {mode: Enforce, containers: {privileged: Forbid}}\n")
	f.addPolicy(auditPolicy("broken", "Enforce", "containers: {privileged: Deny}"))
	out, _ := runAuditJSON(t, f.start(), ExitDenied)
	if len(out.Results) != 1 || len(out.Results[0].Violations) != 1 || out.Results[0].Violations[0].Policy != "recorded" {
		t.Errorf("results %+v, want Pod prod/debug denied by the recorded generation of recorded alone", out.Results)
	}

	f = newFakeAPI(t)
	f.addNamespace("prod", nil)
	f.noCRD = true
	stdout, stderr, code := runAudit(t, f.start())
	if code != ExitUsage || stdout != "" || !strings.Contains(stderr, "error: listing ClusterAdmissionPolicies (is sealgate's CRD installed? --policy audits with files instead)") {
		t.Errorf("without the CRD: exit %d, stdout %q, stderr %q; want 2, nothing, and what to do", code, stdout, stderr)
	}
}

func TestAuditContextFlag(t *testing.T) {
	f := newFakeAPI(t)
	f.addNamespace("prod", nil)
	f.addPolicy(auditPolicy("no-privileged", "Enforce", noPrivileged))
	f.start()
	// The current context's server refuses connections: only --context reaches the fake.
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	data := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- {name: fake, cluster: {server: %q}}
- {name: gone, cluster: {server: "http://127.0.0.1:1"}}
users: [{name: fake, user: {}}]
contexts:
- {name: fake, context: {cluster: fake, user: fake}}
- {name: gone, context: {cluster: gone, user: fake}}
current-context: gone
`, f.server)
	if err := os.WriteFile(kubeconfig, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runAudit(t, kubeconfig); code != ExitUsage || !strings.Contains(stderr, "127.0.0.1:1") {
		t.Errorf("current context: exit %d, stderr %q; want 2 and the unreachable server", code, stderr)
	}
	if _, stderr, code := runAudit(t, kubeconfig, "--context", "fake"); code != ExitOK {
		t.Errorf("--context fake: exit %d, want 0; stderr: %s", code, stderr)
	}
}
