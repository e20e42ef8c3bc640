//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// 4. Warn admits with `Warning: sealgate:` lines; Audit admits silently and reports through the
// metric, the log and the audit annotation of the AdmissionResponse.
func TestWarnAndAuditModes(t *testing.T) {
	ns := namespace(t, "modes", nil)
	applyPolicy(t, "e2e-modes-warn", fmt.Sprintf("{mode: Warn, match: %s, images: {disallowLatestTag: true}}", scoped("modes")))
	applyPolicy(t, "e2e-modes-audit", fmt.Sprintf("{mode: Audit, match: %s, containers: {privileged: Forbid}}", scoped("modes")))

	t.Run("Warn", func(t *testing.T) {
		r := kubectl(t, pod(ns, "latest", "busybox:latest", "", ""), "apply", "-f", "-")
		if r.Err != nil {
			t.Fatalf("want admitted: %s", r)
		}
		want := "Warning: sealgate: spec.containers[0].image: "
		if !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, "[e2e-modes-warn/images.disallowLatestTag]") {
			t.Errorf("want a warning line %q naming the policy and rule: %s", want, r)
		}
		mustKubectl(t, "", "get", "pod", "latest", "-n", ns)
	})

	t.Run("Audit", func(t *testing.T) {
		labels := map[string]string{"policy": "e2e-modes-audit", "mode": "Audit", "decision": "audited", "rule": "containers.privileged"}
		before := metric(t, "sealgate_violations_total", labels)
		r := kubectl(t, pod(ns, "audited", "busybox:1.37", privileged, ""), "apply", "-f", "-")
		wantAdmitted(t, r)
		eventually(t, 5*time.Second, "the audited violation counted", func() (bool, string) {
			after := metric(t, "sealgate_violations_total", labels)
			return after == before+1, fmt.Sprintf("sealgate_violations_total%v: before %v, now %v", labels, before, after)
		})
		eventually(t, 5*time.Second, `sealgate's "audit violations" log line`, func() (bool, string) {
			return auditLogged(sg.Log.String(), `Pod "audited" in namespace "e2e-modes"`,
				"e2e-modes-audit", "spec.containers[0].securityContext.privileged"), "not logged yet"
		})
	})

	t.Run("AuditAnnotation", func(t *testing.T) {
		// envtest's API server keeps no audit log, so ask the webhook the API server asks, over the
		// same TLS, trusting the CA bundle sealgate injected, with the review the API server sends.
		obj := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "annotated", Namespace: ns},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.37",
				SecurityContext: &corev1.SecurityContext{Privileged: ptrTo(true)}}}}}
		resp := review(t, ns, obj)
		if !resp.Allowed {
			t.Fatalf("an Audit violation must not deny: %+v", resp.Result)
		}
		ann := resp.AuditAnnotations["violations"]
		for _, w := range []string{`"policy":"e2e-modes-audit"`, `"path":"spec.containers[0].securityContext.privileged"`, `"mode":"Audit"`} {
			if !strings.Contains(ann, w) {
				t.Errorf("audit annotation %q lacks %s", ann, w)
			}
		}
		if len(resp.Warnings) != 0 {
			t.Errorf("an Audit violation must not warn: %q", resp.Warnings)
		}
	})
}

// auditLogged reports whether sealgate logged "audit violations" for object with a violation of
// policy at path.
func auditLogged(log, object, policy, path string) bool {
	for _, line := range strings.Split(log, "\n") {
		var rec struct {
			Msg        string `json:"msg"`
			Object     string `json:"object"`
			Violations []struct {
				Policy, Path, Mode string
			} `json:"violations"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "audit violations" || rec.Object != object {
			continue
		}
		for _, v := range rec.Violations {
			if v.Policy == policy && v.Path == path && v.Mode == "Audit" {
				return true
			}
		}
	}
	return false
}

func ptrTo[T any](v T) *T { return &v }

// review sends sealgate's /validate the AdmissionReview the API server would send for creating obj,
// over TLS verified with the webhook configuration's CA bundle, and returns the response.
func review(t *testing.T, ns string, obj runtime.Object) *admissionv1.AdmissionResponse {
	t.Helper()
	hc, err := env.WebhookClient(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer hc.CloseIdleConnections()
	resp, err := sg.Review(hc, ns, obj)
	if err != nil {
		t.Fatalf("calling sealgate's webhook: %v", err)
	}
	return resp
}
