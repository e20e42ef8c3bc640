package admission_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/sealgate/sealgate/pkg/admission"
	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
	"github.com/sealgate/sealgate/pkg/workload"
)

// benchPolicy is one Enforce policy using every family of rules that needs no registry: images,
// podSecurity restricted (the upstream checks), every container knob, and every resource rule.
func benchPolicy(tb testing.TB) *policy.Policy {
	tb.Helper()
	p, err := policy.Compile(&v1alpha1.ClusterAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: "production", Generation: 1},
		Spec: v1alpha1.PolicySpec{
			Mode:  v1alpha1.ModeEnforce,
			Match: v1alpha1.Match{ExcludeNamespaces: []string{"kube-system"}},
			Images: &v1alpha1.ImageRules{
				AllowedRegistries: []string{"registry.example.com/**", "ghcr.io/acme/*"},
				DisallowLatestTag: true,
			},
			PodSecurity: &v1alpha1.PodSecurity{Level: "restricted", Version: "latest"},
			Containers: &v1alpha1.ContainerRules{
				Privileged:               v1alpha1.Forbidden,
				RunAsRoot:                v1alpha1.Forbidden,
				AllowPrivilegeEscalation: v1alpha1.Forbidden,
				HostNamespaces:           v1alpha1.Forbidden,
				Capabilities:             &v1alpha1.CapabilityRules{RequireDropAll: true, AllowedAdd: []corev1.Capability{"NET_BIND_SERVICE"}},
				ReadOnlyRootFilesystem:   v1alpha1.Required,
			},
			Resources: &v1alpha1.ResourceRules{
				RequireRequests:      []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory},
				RequireLimits:        []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory},
				MaxLimits:            map[corev1.ResourceName]resource.Quantity{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")},
				MaxLimitRequestRatio: map[corev1.ResourceName]resource.Quantity{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("2")},
			},
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func benchHandler(tb testing.TB) *admission.Handler {
	tb.Helper()
	h := &admission.Handler{
		Engine:   &engine.Engine{Rules: rules.Default()},
		Policies: admission.StaticPolicies{benchPolicy(tb)},
		Metrics:  metrics.Nop{},
		Log:      logr.Discard(),
	}
	if err := h.Defaults(); err != nil {
		tb.Fatal(err)
	}
	return h
}

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// review runs one admission as the webhook does, minus HTTP: Handler.ReviewBody decodes the
// AdmissionReview and its object in one pass, evaluates the policies and builds the response.
func review(tb testing.TB, h *admission.Handler, body []byte) (*admissionv1.AdmissionResponse, string) {
	resp, decision, err := h.ReviewBody(context.Background(), body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, decision
}

// TestBenchVerdicts checks that the benchmarks measure what they say: the compliant fixtures are
// admitted with nothing to report, the denied ones are denied with many violations.
func TestBenchVerdicts(t *testing.T) {
	h := benchHandler(t)
	for _, c := range []struct {
		file       string
		allowed    bool
		violations int // at least
	}{
		{"review-pod.json", true, 0},
		{"review-deployment.json", true, 0},
		{"review-pod-denied.json", false, 10},
		{"review-deployment-denied.json", false, 10},
	} {
		t.Run(c.file, func(t *testing.T) {
			resp, decision := review(t, h, readFixture(t, c.file))
			if resp.Allowed != c.allowed {
				t.Fatalf("allowed = %v (%s), want %v: %s", resp.Allowed, decision, c.allowed, resp.Result.Message)
			}
			if c.allowed {
				if decision != "allowed" || len(resp.Warnings) != 0 || len(resp.AuditAnnotations) != 0 {
					t.Errorf("decision %q, warnings %v, audit %v", decision, resp.Warnings, resp.AuditAnnotations)
				}
				return
			}
			lines := strings.Count(resp.Result.Message, "\n- ")
			if decision != "denied" || resp.Result.Code != 403 || lines < c.violations {
				t.Errorf("decision %q, code %d, %d violations:\n%s", decision, resp.Result.Code, lines, resp.Result.Message)
			}
		})
	}
}

func benchAdmission(b *testing.B, file string, wantAllowed bool) {
	h := benchHandler(b)
	body := readFixture(b, file)
	b.Logf("%s: %d bytes", file, len(body))
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		resp, _, err := h.ReviewBody(ctx, body)
		if err != nil {
			b.Fatal(err)
		}
		if resp.Allowed != wantAllowed {
			b.Fatalf("allowed = %v: %s", resp.Allowed, resp.Result.Message)
		}
	}
}

// BenchmarkAdmissionPod is the common case: a compliant pod created by a ReplicaSet.
func BenchmarkAdmissionPod(b *testing.B) { benchAdmission(b, "review-pod.json", true) }

// BenchmarkAdmissionPod7K is the same pod without managedFields: a ~7 KB review.
func BenchmarkAdmissionPod7K(b *testing.B) { benchAdmission(b, "review-pod-7k.json", true) }

// BenchmarkAdmissionPodDenied is a pod that breaks most rules, so the cost of building the denial shows.
func BenchmarkAdmissionPodDenied(b *testing.B) { benchAdmission(b, "review-pod-denied.json", false) }

// BenchmarkAdmissionDeployment is a compliant Deployment applied by CI.
func BenchmarkAdmissionDeployment(b *testing.B) { benchAdmission(b, "review-deployment.json", true) }

// BenchmarkAdmissionDeploymentDenied is a Deployment whose template breaks most rules.
func BenchmarkAdmissionDeploymentDenied(b *testing.B) {
	benchAdmission(b, "review-deployment-denied.json", false)
}

// BenchmarkDecodeOnly compares ways of reading the pod out of the review's object: sealgate's
// decoder (json v2 into a shape holding only metadata and spec), json v2 into the whole corev1.Pod,
// encoding/json into corev1.Pod, and sigs.k8s.io/json (the API server's decoder) into corev1.Pod.
func BenchmarkDecodeOnly(b *testing.B) {
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(readFixture(b, "review-pod.json"), &rv); err != nil {
		b.Fatal(err)
	}
	raw := rv.Request.Object.Raw
	gvk := schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	cases := []struct {
		name   string
		decode func() error
	}{
		{"workload.Decode", func() error { _, err := workload.Decode(gvk, raw); return err }},
		{"jsonv2-corev1.Pod", func() error { var p corev1.Pod; return jsonv2.Unmarshal(raw, &p) }},
		{"encoding-json-corev1.Pod", func() error { var p corev1.Pod; return json.Unmarshal(raw, &p) }},
		{"sigs.k8s.io-json-corev1.Pod", func() error { var p corev1.Pod; return kjson.UnmarshalCaseSensitivePreserveInts(raw, &p) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.Logf("pod object of review-pod.json: %d bytes", len(raw))
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if err := c.decode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAdmissionServeHTTPPod is BenchmarkAdmissionPod through ServeHTTP: the body read from the
// request and the response encoded, as the webhook server runs it (minus TLS and the connection).
func BenchmarkAdmissionServeHTTPPod(b *testing.B) {
	h := benchHandler(b)
	body := readFixture(b, "review-pod.json")
	rd := bytes.NewReader(body)
	req := httptest.NewRequest(http.MethodPost, "/validate", rd)
	req.Header.Set("Content-Type", "application/json")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		w.code = 0
		h.ServeHTTP(w, req)
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// discardWriter is an http.ResponseWriter that keeps nothing, so that the benchmark counts only
// what ServeHTTP allocates.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
