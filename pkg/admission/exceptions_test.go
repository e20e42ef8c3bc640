package admission

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
)

func testException(t *testing.T, name string, spec v1alpha1.PolicyExceptionSpec) *policy.Exception {
	t.Helper()
	x, err := policy.CompileException(&v1alpha1.PolicyException{ObjectMeta: metav1.ObjectMeta{Namespace: "sealgate-system", Name: name}, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// A waived violation is admitted and never silent: it is in the audit annotation with the
// exception's name, one warning says it was waived, and the metrics count it as excepted. The
// violations no exception waives still decide.
func TestReviewExcepted(t *testing.T) {
	x := testException(t, "cni", v1alpha1.PolicyExceptionSpec{Reason: "the CNI agent",
		Policies: []v1alpha1.ExceptionPolicy{{Name: "enforce", Rules: []string{"containers.privileged"}}},
		Match:    v1alpha1.ExceptionMatch{Namespaces: []string{testNamespace}, Containers: []string{"agent"}}})
	h, rec := testHandler(t, testPolicies(t), nil)
	h.Engine.Exceptions = engine.NewStaticExceptions([]*policy.Exception{x})
	h.Engine.ExceptionNamespace = "sealgate-system"

	agent := testPrivileged(testContainer("agent", "registry.example.com/cni/agent:1"))
	resp, decision := h.Review(context.Background(), testRequest(t, admissionv1.Create, "", testPod(testPodSpec(agent)), nil))
	if !resp.Allowed || decision != "allowed" {
		t.Fatalf("denied: %s", resp.Result.Message)
	}
	var annotated []engine.Violation
	if err := json.Unmarshal([]byte(resp.AuditAnnotations[AuditAnnotationKey]), &annotated); err != nil {
		t.Fatalf("audit annotation %q: %v", resp.AuditAnnotations[AuditAnnotationKey], err)
	}
	want := []engine.Violation{{Policy: "enforce", Rule: "containers.privileged", Mode: v1alpha1.ModeEnforce,
		Path: "spec.containers[0].securityContext.privileged", Container: "agent", Excepted: "sealgate-system/cni"}}
	if diff := cmp.Diff(want, annotated, cmpIgnoreMessage); diff != "" {
		t.Errorf("audit annotation (-want +got):\n%s", diff)
	}
	if !strings.Contains(resp.AuditAnnotations[AuditAnnotationKey], `"excepted":"sealgate-system/cni"`) {
		t.Errorf("the annotation does not mark it excepted: %s", resp.AuditAnnotations[AuditAnnotationKey])
	}
	wantWarning := "sealgate: 1 violation waived by PolicyException sealgate-system/cni; reported in the audit log, not enforced"
	if diff := cmp.Diff([]string{wantWarning}, resp.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"enforce/containers.privileged/Enforce/excepted"}, rec.violations); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}

	// Another container of the same pod is not covered: denied for it alone, and the waived one is
	// still reported.
	rec.violations = nil
	other := testPrivileged(testContainer("app", "registry.example.com/team/app:1"))
	resp, _ = h.Review(context.Background(), testRequest(t, admissionv1.Create, "", testPod(testPodSpec(agent, other)), nil))
	if resp.Allowed {
		t.Fatalf("admitted a privileged container the exception does not cover")
	}
	if msg := resp.Result.Message; !strings.Contains(msg, "spec.containers[1].securityContext.privileged") ||
		strings.Contains(msg, "spec.containers[0]") || !strings.Contains(msg, "(1 violation)") {
		t.Errorf("denial lists the waived violation or misses the other:\n%s", msg)
	}
	if diff := cmp.Diff([]string{wantWarning}, resp.Warnings); diff != "" {
		t.Errorf("warnings on the denial (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"enforce/containers.privileged/Enforce/excepted", "enforce/containers.privileged/Enforce/denied"}, rec.violations); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

var cmpIgnoreMessage = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Message" }, cmp.Ignore())

// The waived warning keeps its room: Warn violations past the warning limits are cut before it.
func TestWaivedWarningFits(t *testing.T) {
	var vs []engine.Violation
	for range 100 {
		vs = append(vs, engine.Violation{Policy: "warn", Rule: "r", Mode: v1alpha1.ModeWarn, Path: "spec.x", Message: strings.Repeat("m", 200)})
	}
	waived := "sealgate: 3 violations waived by PolicyException a/b; reported in the audit log, not enforced"
	out := warnings(vs, 0, waived)
	if out[len(out)-1] != waived {
		t.Errorf("last warning = %q, want the waived one", out[len(out)-1])
	}
	if !strings.Contains(out[len(out)-2], "more warnings not shown") {
		t.Errorf("the warning before it does not say how many were cut: %q", out[len(out)-2])
	}
	runes := 0
	for _, w := range out {
		runes += len([]rune(w))
	}
	if len(out) > engine.MaxWarnings || runes > engine.MaxWarningRunes {
		t.Errorf("%d warnings of %d runes, over the limits", len(out), runes)
	}
}

func TestWaivedWarningNamesExceptions(t *testing.T) {
	res := &engine.Result{Violations: []engine.Violation{
		{Excepted: "ns/a"}, {Excepted: "ns/b"}, {Excepted: "ns/a"}, {Excepted: "ns/c"}, {Excepted: "ns/d"}, {},
	}}
	if got, want := waivedWarning(res), "sealgate: 5 violations waived by PolicyException ns/a, ns/b, ns/c and 1 more; reported in the audit log, not enforced"; got != want {
		t.Errorf("waivedWarning = %q, want %q", got, want)
	}
	if got := waivedWarning(&engine.Result{Violations: []engine.Violation{{}}}); got != "" {
		t.Errorf("waivedWarning with nothing waived = %q", got)
	}
}
