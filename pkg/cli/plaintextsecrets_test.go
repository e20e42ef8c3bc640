package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/sealgate/sealgate/pkg/admission"
	"github.com/sealgate/sealgate/pkg/audit"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/secrets"
	"github.com/sealgate/sealgate/pkg/secrets/secretstest"
)

// TestPlaintextSecretsAreNeverPrinted puts a credential of every kind containers.plaintextSecrets
// finds into a pod of its own (in env, args and command) and runs every front end that reports
// findings: `sealgate check` (text and JSON), the admission handler (its response with the denial,
// the warnings and the audit annotation; its logs; its metrics) and `sealgate audit` (text, JSON and
// the report objects of both report APIs). Every output must report each finding by its
// fingerprint, and no output may hold a secret or any 8 bytes of one.
func TestPlaintextSecretsAreNeverPrinted(t *testing.T) {
	var policies []string
	for _, mode := range []string{"Enforce", "Warn", "Audit"} {
		policies = append(policies, auditPolicy("secrets-"+strings.ToLower(mode), mode, "containers: {plaintextSecrets: {mode: Forbid}}"))
	}
	policyFile := writeFile(t, "policies.yaml", strings.Join(policies, "---\n"))

	samples := secretstest.Samples
	pods := make([]*corev1.Pod, len(samples))
	fingerprints := make([]string, len(samples))
	var docs []string
	for i, s := range samples {
		entry := s.Name + "=" + s.Value
		m, ok := secrets.Find(entry)
		if !ok {
			t.Fatalf("sample %s is not found", s.Kind)
		}
		fingerprints[i] = m.Fingerprint(entry)
		pods[i] = &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Namespace: "prod", UID: types.UID(fmt.Sprint("uid-", i))},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: auditImage,
				Command: []string{"/bin/run", entry},
				Args:    []string{entry},
				Env:     []corev1.EnvVar{{Name: s.Name, Value: s.Value}},
			}}},
		}
		b, err := yaml.Marshal(pods[i])
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	podFile := writeFile(t, "pods.yaml", strings.Join(docs, "---\n"))

	// Each output, and which samples' fingerprints it must show (nil: none, as for metrics).
	type output struct {
		text    string
		samples []int
	}
	all := make([]int, len(samples))
	for i := range all {
		all[i] = i
	}
	outputs := map[string]output{}

	for _, format := range []string{"text", "json"} {
		stdout, stderr, code := run(t, "", "check", "--policy", policyFile, "-f", podFile, "-o", format)
		if code != ExitDenied {
			t.Fatalf("check -o %s: exit %d, want %d; stderr: %s", format, code, ExitDenied, stderr)
		}
		outputs["check -o "+format] = output{stdout + stderr, all}
	}

	ps, err := policy.LoadPaths([]string{policyFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	rec, err := metrics.NewPrometheus(reg)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	// serve's logger, at its most verbose.
	h := &admission.Handler{Engine: &engine.Engine{Rules: rules.Default()}, Policies: admission.StaticPolicies(ps), Metrics: rec,
		Log: logr.FromSlogHandler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.Level(-8)}))}
	if err := h.Defaults(); err != nil {
		t.Fatal(err)
	}
	for i, pod := range pods {
		resp := postPod(t, h, pod)
		if !strings.Contains(resp, `"allowed":false`) || !strings.Contains(resp, `"warnings"`) || !strings.Contains(resp, admission.AuditAnnotationKey) {
			t.Fatalf("pod %d: the response has no denial, warnings and audit annotation: %s", i, resp)
		}
		outputs[fmt.Sprintf("admission response for the %s", samples[i].Kind)] = output{resp, []int{i}}
	}
	outputs["admission logs"] = output{logs.String(), all}
	mw := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(mw, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(mw.Body.String(), `rule="containers.plaintextSecrets"`) {
		t.Fatalf("metrics count no plaintextSecrets violation:\n%s", mw.Body.String())
	}
	outputs["metrics"] = output{mw.Body.String(), nil}

	f := newFakeAPI(t)
	f.addNamespace("prod", nil)
	f.webhook = auditWebhook(t)
	for _, pod := range pods {
		f.add(pod)
	}
	kubeconfig := f.start()
	for _, args := range [][]string{{"-o", "text"}, {"-o", "json"}, {"-o", "report"}, {"-o", "report", "--report-api", audit.APIPolicyWG}} {
		stdout, stderr, code := runAudit(t, kubeconfig, append(args, "--policy", policyFile)...)
		if code != ExitDenied {
			t.Fatalf("audit %s: exit %d, want %d; stderr: %s", args, code, ExitDenied, stderr)
		}
		outputs["audit "+strings.Join(args, " ")] = output{stdout + stderr, all}
	}

	for name, out := range outputs {
		for _, i := range out.samples {
			if !strings.Contains(out.text, fingerprints[i]) {
				t.Errorf("%s does not report the %s by its fingerprint %s", name, samples[i].Kind, fingerprints[i])
			}
		}
		for _, s := range samples {
			if leak := secretstest.Leaks(out.text, s.Secret, 8); leak != "" {
				t.Errorf("%s holds %q of the %s", name, leak, s.Kind)
			}
		}
	}
}

// postPod posts a CREATE of pod to the handler and returns the response body.
func postPod(t *testing.T, h http.Handler, pod *corev1.Pod) string {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       "0b6f6e5c-9b1e-4d7a-8f55-0d5e0f0c7a11",
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Name:      pod.Name,
			Namespace: pod.Namespace,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	return w.Body.String()
}
