package admission

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sealgate/sealgate/pkg/workload"
)

// testRollout is an Argo Rollout whose pod template holds containers.
func testRollout(template map[string]any) *unstructured.Unstructured {
	spec := map[string]any{"replicas": int64(3), "selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
		"strategy": map[string]any{"canary": map[string]any{"steps": []any{map[string]any{"setWeight": int64(20)}}}}}
	if template != nil {
		spec["template"] = template
	}
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": "web", "namespace": testNamespace}, "spec": spec}}
}

// testCustomContainer is testContainer as an unstructured value: allowed registry, memory limit.
func testCustomContainer(name, image string, privileged bool) map[string]any {
	c := map[string]any{"name": name, "image": image, "resources": map[string]any{"limits": map[string]any{"memory": "128Mi"}}}
	if privileged {
		c["securityContext"] = map[string]any{"privileged": true}
	}
	return c
}

func testTemplate(containers ...any) map[string]any {
	return map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
		"spec": map[string]any{"containers": containers}}
}

// testPrometheus is a Prometheus Operator Prometheus: its spec holds pod spec fields beside its
// own (image, replicas, retention), and a container named prometheus patches the one the operator
// generates.
func testPrometheus(containers ...any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
		"metadata": map[string]any{"name": "k8s", "namespace": testNamespace},
		"spec": map[string]any{"replicas": int64(2), "retention": "10d", "image": "quay.io/prometheus/prometheus:v3.1.0",
			"podMetadata":     map[string]any{"labels": map[string]any{"app": "prometheus"}},
			"securityContext": map[string]any{"runAsNonRoot": true, "runAsUser": int64(1000)},
			"containers":      containers}}}
}

// TestHandlerCustomKinds checks that the webhook evaluates the built-in custom kinds, with findings
// at the custom resource's own field paths.
func TestHandlerCustomKinds(t *testing.T) {
	ctx := context.Background()
	good := testTemplate(testCustomContainer("app", "registry.example.com/team/app:1.2.3", false))
	bad := testTemplate(testCustomContainer("app", "docker.io/library/nginx:1.27", true))
	scaled := testRollout(good)
	scaled.Object["spec"].(map[string]any)["replicas"] = int64(5)
	badScaled := testRollout(bad)
	badScaled.Object["spec"].(map[string]any)["replicas"] = int64(5)
	refersToDeployment := testRollout(nil)
	refersToDeployment.Object["spec"].(map[string]any)["workloadRef"] = map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}

	tests := []struct {
		name    string
		req     *admissionv1.AdmissionRequest
		message string
		want    testOutcome
	}{{
		name:    "privileged rollout is denied at its template's paths",
		req:     testRequest(t, admissionv1.Create, "", testRollout(bad), nil),
		message: `Rollout "web" in namespace "prod" was denied by sealgate (2 violations):`,
		want: testOutcome{Code: 403, Reason: metav1.StatusReasonForbidden, Decision: "denied",
			Denials: []string{
				"spec.template.spec.containers[0].securityContext.privileged [enforce/containers.privileged]",
				"spec.template.spec.containers[0].image [enforce/images.allowedRegistries]",
			},
			Violations: []string{"enforce/containers.privileged/Enforce/denied", "enforce/images.allowedRegistries/Enforce/denied"}},
	}, {
		name: "compliant rollout is allowed",
		req:  testRequest(t, admissionv1.Create, "", testRollout(good), nil),
		want: testOutcome{Allowed: true, Code: 200, Decision: "allowed"},
	}, {
		name:    "rollout update that only scales is admitted even if it violates",
		req:     testRequest(t, admissionv1.Update, "", badScaled, testRollout(bad)),
		message: "pod spec unchanged",
		want:    testOutcome{Allowed: true, Code: 200, Decision: "skipped"},
	}, {
		name: "rollout update that makes a container privileged is denied",
		req:  testRequest(t, admissionv1.Update, "", testRollout(bad), scaled),
		want: testOutcome{Code: 403, Reason: metav1.StatusReasonForbidden, Decision: "denied",
			Denials: []string{
				"spec.template.spec.containers[0].securityContext.privileged [enforce/containers.privileged]",
				"spec.template.spec.containers[0].image [enforce/images.allowedRegistries]",
			},
			Violations: []string{"enforce/containers.privileged/Enforce/denied", "enforce/images.allowedRegistries/Enforce/denied"}},
	}, {
		name:    "rollout with a workloadRef is skipped: its Deployment is checked on its own",
		req:     testRequest(t, admissionv1.Create, "", refersToDeployment, nil),
		message: "it has no spec.template.spec",
		want:    testOutcome{Allowed: true, Code: 200, Decision: "skipped"},
	}, {
		// The prometheus entry patches the operator's container: not judged alone, and the sidecar
		// keeps its index in the object.
		name: "prometheus with a privileged sidecar is denied at spec.containers[1]",
		req: testRequest(t, admissionv1.Create, "", testPrometheus(
			map[string]any{"name": "prometheus", "securityContext": map[string]any{"readOnlyRootFilesystem": true}},
			testCustomContainer("proxy", "registry.example.com/team/proxy:2.0", true)), nil),
		message: `Prometheus "k8s" in namespace "prod" was denied by sealgate (1 violation):`,
		want: testOutcome{Code: 403, Reason: metav1.StatusReasonForbidden, Decision: "denied",
			Denials:    []string{"spec.containers[1].securityContext.privileged [enforce/containers.privileged]"},
			Violations: []string{"enforce/containers.privileged/Enforce/denied"}},
	}, {
		name: "prometheus that only patches the operator's containers is allowed",
		req: testRequest(t, admissionv1.Create, "", testPrometheus(
			map[string]any{"name": "prometheus", "securityContext": map[string]any{"privileged": true}}), nil),
		want: testOutcome{Allowed: true, Code: 200, Decision: "allowed"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := testHandler(t, testPolicies(t), nil)
			// Through the body, as the API server sends it: the custom object takes the decoder's
			// fallback path, kept raw and decoded with the custom-kind table.
			resp, decision, err := h.ReviewBody(ctx, testReviewBody(t, tt.req))
			if err != nil {
				t.Fatal(err)
			}
			got := testOutcomeOf(t, resp, decision, rec)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s\nmessage: %s", diff, resp.Result.Message)
			}
			if tt.message != "" && !strings.Contains(resp.Result.Message, tt.message) {
				t.Errorf("message %q does not contain %q", resp.Result.Message, tt.message)
			}
		})
	}
}

// TestHandlerCustomKindsConfigured checks that the handler evaluates only the custom kinds it is
// given: a Rollout is skipped by a handler whose table leaves it out.
func TestHandlerCustomKindsConfigured(t *testing.T) {
	h, rec := testHandler(t, testPolicies(t), nil)
	h.CustomKinds = workload.CustomKinds{}
	for _, k := range workload.BuiltinCustomKinds {
		if k.GVK.Kind != "Rollout" {
			h.CustomKinds = append(h.CustomKinds, k)
		}
	}
	bad := testTemplate(testCustomContainer("app", "docker.io/library/nginx:1.27", true))
	resp, decision, err := h.ReviewBody(context.Background(), testReviewBody(t, testRequest(t, admissionv1.Create, "", testRollout(bad), nil)))
	if err != nil {
		t.Fatal(err)
	}
	want := testOutcome{Allowed: true, Code: 200, Decision: "skipped"}
	if diff := cmp.Diff(want, testOutcomeOf(t, resp, decision, rec)); diff != "" {
		t.Errorf("outcome (-want +got):\n%s", diff)
	}
}
