package admission

import (
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sealgate/sealgate/pkg/engine"
)

// Every AdmissionResponse sealgate sends is built in this file. The difference that matters:
//
//   - a denial is a policy verdict: allowed=false, code 403, reason Forbidden, and a message that lists
//     every Enforce violation with its field path;
//   - an internal error (policies not loaded) is not a verdict, but sealgate still denies (code 500,
//     reason InternalError) because failing open would let through exactly what the policies forbid;
//     an object sealgate cannot decode is denied with code 400 (reason BadRequest). Errors inside a policy's evaluation (a namespace lookup or a
//     registry call) are reported by the engine as violations of that policy, so a Warn or Audit policy
//     admits and reports them while an Enforce policy denies;
//   - an allowance may carry warnings (Warn violations) and audit annotations (Audit violations).

// AuditAnnotationKey is the audit annotation that lists Audit-mode violations as JSON. The API server
// prefixes it with the webhook's name.
const AuditAnnotationKey = "violations"

// maxWarnings bounds the warnings on one response; the API server truncates long warning lists anyway.
const maxWarnings = 32

func allowed(uid types.UID, reason string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: uid, Allowed: true,
		Result: &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusOK, Message: reason}}
}

// verdict turns an engine result into a response: deny if any Enforce violation, else allow with
// warnings and audit annotations.
func verdict(uid types.UID, what string, res *engine.Result, auditJSON string) *admissionv1.AdmissionResponse {
	var resp *admissionv1.AdmissionResponse
	if denied := res.ByMode("Enforce"); len(denied) > 0 {
		resp = &admissionv1.AdmissionResponse{UID: uid, Allowed: false, Result: &metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
			Message: DenialMessage(what, denied)}}
	} else {
		resp = allowed(uid, "")
	}
	for _, v := range res.ByMode("Warn") {
		if len(resp.Warnings) == maxWarnings {
			resp.Warnings = append(resp.Warnings, "sealgate: more warnings omitted")
			break
		}
		resp.Warnings = append(resp.Warnings, "sealgate: "+v.String())
	}
	if auditJSON != "" {
		resp.AuditAnnotations = map[string]string{AuditAnnotationKey: auditJSON}
	}
	return resp
}

// internalError denies a request sealgate could not evaluate, saying what failed.
func internalError(uid types.UID, err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: uid, Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Reason: metav1.StatusReasonInternalError,
		Message: "sealgate could not evaluate the request, so it is denied: " + err.Error()}}
}

// badObject denies a request whose object sealgate cannot decode.
func badObject(uid types.UID, err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: uid, Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusBadRequest, Reason: metav1.StatusReasonBadRequest,
		Message: "sealgate could not decode the object, so it is denied: " + err.Error()}}
}

// invalidPolicy rejects a policy that fails validation (422), listing every wrong field.
func invalidPolicy(uid types.UID, err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: uid, Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnprocessableEntity, Reason: metav1.StatusReasonInvalid,
		Message: err.Error()}}
}

// DenialMessage lists every violation, one per line, each with its field path, message, policy and
// rule. what names the object: `Deployment "web"`.
func DenialMessage(what string, vs []engine.Violation) string {
	var b strings.Builder
	noun := "violation"
	if len(vs) > 1 {
		noun = "violations"
	}
	fmt.Fprintf(&b, "%s was denied by sealgate (%d %s):", what, len(vs), noun)
	for _, v := range vs {
		b.WriteString("\n- ")
		b.WriteString(v.String())
	}
	return b.String()
}

// review wraps a response in an AdmissionReview of the version the request came in.
func review(resp *admissionv1.AdmissionResponse) *admissionv1.AdmissionReview {
	return &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: resp,
	}
}
