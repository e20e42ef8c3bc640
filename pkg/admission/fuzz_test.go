package admission

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/metrics"
	"github.com/sealgate/sealgate/pkg/rules"
)

// FuzzDecodeReview feeds arbitrary bodies to the AdmissionReview decoder. Invariants: it never
// panics; a failure is a bad request; a review it accepts can be evaluated by the handler without
// panicking, and the response answers the same request UID and encodes.
func FuzzDecodeReview(f *testing.F) {
	sidecar := testWithoutLimits(testContainer("proxy", "docker.io/library/envoy:latest"))
	sidecar.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true), RunAsUser: ptr.To[int64](0),
		Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}
	mixed := corev1.PodSpec{HostNetwork: true,
		InitContainers: []corev1.Container{testContainer("init", "registry.example.com/init@sha256:"+
			"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")},
		Containers: []corev1.Container{testContainer("app", "registry.example.com/team/app:1.2.3"), sidecar},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			Image: &corev1.ImageVolumeSource{Reference: "ghcr.io/acme/data:v1"}}}}}
	for _, req := range []*admissionv1.AdmissionRequest{
		testRequest(f, admissionv1.Create, "", testPod(testGoodSpec), nil),
		testRequest(f, admissionv1.Create, "", testPod(mixed), nil),
		testRequest(f, admissionv1.Update, "", testDeployment(mixed, 3, nil), testDeployment(testGoodSpec, 1, nil)),
		testRequest(f, admissionv1.Create, "", testCronJob(mixed), nil),
	} {
		f.Add(testReviewBody(f, req))
	}
	const head = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",`
	for _, s := range []string{
		"", "{", "null", "[]", `{}`, `"\ud800"`,
		head + `"operation":"CREATE","kind":{"version":"v1","kind":"Pod"},"object":{"spec":{"containers":"x"}}}}`,
		head + `"operation":"CREATE","kind":{"version":"v1","kind":"Pod"},"object":null}}`,
		head + `"operation":"UPDATE","kind":{"group":"apps","version":"v1","kind":"Deployment"},"object":{},"oldObject":[]}}`,
		head + `"operation":"CREATE","kind":{"group":"batch","version":"v1","kind":"CronJob"},"object":{"spec":{"jobTemplate":null}}}}`,
		head + `"operation":"CREATE","kind":{"version":"v1","kind":"Pod"},"object":{"spec":{"containers":[{"name":"a","image":"::"}]}}}}`,
	} {
		f.Add([]byte(s))
	}

	h := &Handler{
		Engine: &engine.Engine{Rules: rules.Default(),
			Namespaces: fakeNamespaces{labels: map[string]map[string]string{testNamespace: {"env": "prod"}}}},
		Policies: append(testPolicies(f),
			testNamespacePolicy(f, "prod-only", v1alpha1.ModeWarn),
			testCompile(f, "strict", v1alpha1.PolicySpec{Mode: v1alpha1.ModeEnforce,
				Images:      &v1alpha1.ImageRules{RequireDigest: true},
				PodSecurity: &v1alpha1.PodSecurity{Level: "restricted"},
				Containers: &v1alpha1.ContainerRules{RunAsRoot: v1alpha1.Forbidden, AllowPrivilegeEscalation: v1alpha1.Forbidden,
					HostNamespaces: v1alpha1.Forbidden, ReadOnlyRootFilesystem: v1alpha1.Required,
					Capabilities: &v1alpha1.CapabilityRules{RequireDropAll: true, AllowedAdd: []corev1.Capability{"NET_BIND_SERVICE"}}},
				Resources: &v1alpha1.ResourceRules{RequireRequests: []corev1.ResourceName{corev1.ResourceCPU},
					MaxLimits:            map[corev1.ResourceName]resource.Quantity{corev1.ResourceMemory: resource.MustParse("1Gi")},
					MaxLimitRequestRatio: map[corev1.ResourceName]resource.Quantity{corev1.ResourceCPU: resource.MustParse("2")}}})),
		Metrics: metrics.Nop{},
	}
	if err := h.Defaults(); err != nil {
		f.Fatal(err)
	}
	decisions := map[string]bool{"allowed": true, "denied": true, "skipped": true, "error": true}
	codes := map[int32]bool{http.StatusBadRequest: true, http.StatusForbidden: true, http.StatusInternalServerError: true}

	f.Fuzz(func(t *testing.T, body []byte) {
		// The webhook's own path: envelope and object in one pass.
		fast, fastDecision, fastErr := h.ReviewBody(context.Background(), body)
		if fastErr != nil && !errors.Is(fastErr, errBadRequest) {
			t.Fatalf("ReviewBody error %v is not a bad request", fastErr)
		}
		if fastErr == nil && (fast == nil || fast.UID == "" || fast.Result == nil || !decisions[fastDecision]) {
			t.Fatalf("ReviewBody accepted %q but answered %+v (%q)", body, fast, fastDecision)
		}
		rv, err := DecodeReview(body)
		if err != nil {
			if !errors.Is(err, errBadRequest) {
				t.Fatalf("DecodeReview error %v is not a bad request", err)
			}
			return
		}
		if rv.Request == nil || rv.Request.UID == "" {
			t.Fatalf("DecodeReview accepted a review without a request UID: %q", body)
		}
		resp, decision := h.Review(context.Background(), rv.Request)
		if resp == nil {
			t.Fatal("Review returned no response")
		}
		if resp.UID != rv.Request.UID {
			t.Fatalf("response UID %q, want %q", resp.UID, rv.Request.UID)
		}
		if !decisions[decision] {
			t.Fatalf("unknown decision %q", decision)
		}
		if resp.Result == nil {
			t.Fatal("response has no result")
		}
		if !resp.Allowed && !codes[resp.Result.Code] {
			t.Fatalf("denial with code %d", resp.Result.Code)
		}
		if _, err := json.Marshal(review(resp)); err != nil {
			t.Fatalf("encoding response: %v", err)
		}
		// Where both decoders accept the body, the one-pass decoder gives the same verdict.
		if fastErr == nil && (fast.Allowed != resp.Allowed || fast.Result.Code != resp.Result.Code) {
			t.Fatalf("one-pass decoder: allowed=%v code=%d; two-pass: allowed=%v code=%d\nbody: %q\n%s\n%s",
				fast.Allowed, fast.Result.Code, resp.Allowed, resp.Result.Code, body, fast.Result.Message, resp.Result.Message)
		}
	})
}
