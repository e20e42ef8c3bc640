package admission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sealgate/sealgate/pkg/apis/v1alpha1"
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
//   - an allowance may carry warnings (Warn violations) and audit annotations (Audit violations);
//   - a violation a PolicyException waives decides nothing but is never silent: it is in the audit
//     annotation, marked "excepted" with the exception's name, and one warning says how many were
//     waived and by which exceptions, on an allowance and a denial alike.
//
// What a response says is bounded by the limits in pkg/engine/limits.go (the denial message, the
// warnings, the audit annotation), and each says how many violations it does not show.

// AuditAnnotationKey is the audit annotation that lists Audit-mode violations, and the violations
// exceptions waive (each with "excepted"), as a JSON array of at most engine.MaxAuditAnnotationBytes.
// The API server prefixes it with the webhook's name.
const AuditAnnotationKey = "violations"

// AuditOmittedAnnotationKey is the audit annotation that says, as a decimal number, how many Audit
// and waived violations the AuditAnnotationKey array does not list. It is set only when some were cut.
const AuditOmittedAnnotationKey = "violations-omitted"

func allowed(uid types.UID, reason string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: uid, Allowed: true,
		Result: &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusOK, Message: reason}}
}

// verdict turns an engine result into a response: deny if any Enforce violation, else allow with
// warnings and audit annotations.
func verdict(uid types.UID, what string, res *engine.Result, audit auditRecord) *admissionv1.AdmissionResponse {
	var resp *admissionv1.AdmissionResponse
	if res.Allowed() {
		resp = allowed(uid, "")
	} else {
		resp = &admissionv1.AdmissionResponse{UID: uid, Allowed: false, Result: &metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
			Message: DenialMessage(what, res.ByMode(v1alpha1.ModeEnforce), res.OmittedCount(v1alpha1.ModeEnforce))}}
	}
	resp.Warnings = warnings(res.ByMode(v1alpha1.ModeWarn), res.OmittedCount(v1alpha1.ModeWarn), waivedWarning(res))
	if audit.json != "" {
		resp.AuditAnnotations = map[string]string{AuditAnnotationKey: audit.json}
		if audit.omitted > 0 {
			resp.AuditAnnotations[AuditOmittedAnnotationKey] = strconv.Itoa(audit.omitted)
		}
	}
	return resp
}

// warnings renders Warn violations as warnings, "sealgate: <violation>", within what the API server
// passes on whole: at most engine.MaxWarnings of them and engine.MaxWarningRunes of text. When some
// do not fit, the last warning says how many. omitted counts those the engine did not list. waived,
// when not empty, is the last warning (waivedWarning), and its room is kept.
func warnings(vs []engine.Violation, omitted int, waived string) []string {
	if waived == "" {
		return warningsWithin(vs, omitted, engine.MaxWarnings, engine.MaxWarningRunes)
	}
	return append(warningsWithin(vs, omitted, engine.MaxWarnings-1, engine.MaxWarningRunes-utf8.RuneCountInString(waived)), waived)
}

// warningsWithin is warnings within at most maxN warnings and maxRunes runes.
func warningsWithin(vs []engine.Violation, omitted, maxN, maxRunes int) []string {
	if len(vs) == 0 && omitted == 0 {
		return nil
	}
	out := make([]string, 0, min(len(vs), maxN))
	runes := 0
	for _, v := range vs {
		w := "sealgate: " + v.String()
		runes += utf8.RuneCountInString(w)
		out = append(out, w)
		if runes > maxRunes || len(out) > maxN {
			break
		}
	}
	if len(out) == len(vs) && runes <= maxRunes && len(out) <= maxN && omitted == 0 {
		return out
	}
	// Some must go: keep what fits beside the last warning, which says how many went.
	const room = 64 // the runes of the last warning, with a count of any size
	out, runes = out[:0], 0
	for _, v := range vs {
		w := "sealgate: " + v.String()
		n := utf8.RuneCountInString(w)
		if len(out) == maxN-1 || runes+n > maxRunes-room {
			break
		}
		out, runes = append(out, w), runes+n
	}
	more := len(vs) + omitted - len(out)
	return append(out, "sealgate: "+strconv.Itoa(more)+" more "+plural(more, "warning", "warnings")+" not shown")
}

// maxWaivedNames is how many exceptions the waived warning names before "and N more".
const maxWaivedNames = 3

// waivedWarning is the one warning about the violations exceptions waive: how many, and which
// exceptions waived them. Empty when none did.
func waivedWarning(res *engine.Result) string {
	vs, omitted := res.Excepted(), res.ExceptedOmitted()
	n := len(vs) + omitted
	if n == 0 {
		return ""
	}
	var names []string
	add := func(id string) {
		if !slices.Contains(names, id) {
			names = append(names, id)
		}
	}
	for _, v := range vs {
		add(v.Excepted)
	}
	for _, o := range res.Omitted {
		if o.Excepted != "" {
			add(o.Excepted)
		}
	}
	shown := names[:min(len(names), maxWaivedNames)]
	list := strings.Join(shown, ", ")
	if more := len(names) - len(shown); more > 0 {
		list += fmt.Sprintf(" and %d more", more)
	}
	return fmt.Sprintf("sealgate: %d %s waived by PolicyException %s; reported in the audit log, not enforced",
		n, plural(n, "violation", "violations"), list)
}

// auditRecord is the audit annotation's value: Audit and waived violations as a JSON array, and
// how many it does not list.
type auditRecord struct {
	json    string
	omitted int
}

// audited returns the violations of res that the audit annotation lists: those of Audit policies
// and those exceptions waive, in the result's order.
func audited(res *engine.Result) []engine.Violation {
	var out []engine.Violation
	for _, v := range res.Violations {
		if v.Mode == v1alpha1.ModeAudit || v.Excepted != "" {
			out = append(out, v)
		}
	}
	return out
}

// auditAnnotation lists the Audit and waived violations of res within engine.MaxAuditAnnotationBytes.
func auditAnnotation(res *engine.Result) auditRecord {
	vs, omitted := audited(res), res.OmittedCount(v1alpha1.ModeAudit)+res.ExceptedOmitted()
	if len(vs) == 0 && omitted == 0 {
		return auditRecord{}
	}
	s, listed := violationsJSON(vs, len(vs), engine.MaxAuditAnnotationBytes)
	return auditRecord{json: s, omitted: len(vs) + omitted - listed}
}

// violationsJSON renders the first violations of vs as a JSON array of at most maxItems elements and
// maxBytes bytes, and returns how many it holds. The array stays valid JSON whatever it cuts.
func violationsJSON(vs []engine.Violation, maxItems, maxBytes int) (string, int) {
	var b strings.Builder
	b.WriteByte('[')
	n := 0
	for _, v := range vs {
		if n == maxItems {
			break
		}
		item, err := json.Marshal(v)
		if err != nil || b.Len()+len(item)+2 > maxBytes { // a comma and the closing bracket
			break
		}
		if n > 0 {
			b.WriteByte(',')
		}
		b.Write(item)
		n++
	}
	b.WriteByte(']')
	return b.String(), n
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

// DenialMessage lists the Enforce violations, one per line, each with its field path, message,
// policy and rule. what names the object: `Deployment "web"`. omitted counts violations the engine
// found but did not list. At most engine.MaxDenialViolations lines and engine.MaxDenialBytes are
// written; when some are not, the last line says how many.
func DenialMessage(what string, vs []engine.Violation, omitted int) string {
	var b strings.Builder
	total := len(vs) + omitted
	// room keeps space for the last line, "… and N more violations not shown".
	const room = 64
	// The message is built once, in one buffer sized for the lines that fit: a denial lists up
	// to MaxDenialViolations lines, and formatting each with v.String() cost more than the rest.
	count := strconv.Itoa(total) + " " + plural(total, "violation", "violations")
	size, shown := len(what)+len(" was denied by sealgate (")+len(count)+len("):"), 0
	for i := range vs {
		n := lineLen(&vs[i])
		if shown == engine.MaxDenialViolations || size+n+3 > engine.MaxDenialBytes-room {
			break
		}
		size += n + 3
		shown++
	}
	b.Grow(size + room)
	b.WriteString(what)
	b.WriteString(" was denied by sealgate (")
	b.WriteString(count)
	b.WriteString("):")
	for i := range vs[:shown] {
		b.WriteString("\n- ")
		writeLine(&b, &vs[i])
	}
	if more := total - shown; more > 0 {
		fmt.Fprintf(&b, "\n… and %d more %s not shown", more, plural(more, "violation", "violations"))
	}
	return b.String()
}

// lineLen is len(v.String()), and writeLine writes v.String() to b, without formatting it first.
// TestWriteLineIsString holds them to v.String().
func lineLen(v *engine.Violation) int {
	n := len(v.Path) + len(": ") + len(v.Message) + len(" [") + len(v.Policy) + len("/") + len(v.Rule) + len("]")
	for _, r := range v.AlsoRules {
		n += len(", ") + len(r)
	}
	if v.Excepted != "" {
		n += len(" (excepted by ") + len(v.Excepted) + len(")")
	}
	return n
}

func writeLine(b *strings.Builder, v *engine.Violation) {
	b.WriteString(v.Path)
	b.WriteString(": ")
	b.WriteString(v.Message)
	b.WriteString(" [")
	b.WriteString(v.Policy)
	b.WriteByte('/')
	b.WriteString(v.Rule)
	for _, r := range v.AlsoRules {
		b.WriteString(", ")
		b.WriteString(r)
	}
	b.WriteByte(']')
	if v.Excepted != "" {
		b.WriteString(" (excepted by ")
		b.WriteString(v.Excepted)
		b.WriteByte(')')
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// encodeReview writes the AdmissionReview of resp to b, as json.Marshal(review(resp)) would. The
// common answer, a plain allowance, is written from fixed bytes around its uid.
func encodeReview(b *bytes.Buffer, resp *admissionv1.AdmissionResponse) error {
	if plainAllowance(resp) {
		b.WriteString(allowedPrefix)
		b.WriteString(string(resp.UID))
		b.WriteString(allowedSuffix)
		return nil
	}
	return json.NewEncoder(b).Encode(review(resp))
}

// allowedPrefix and allowedSuffix are what json.Marshal writes around the uid of allowed(uid, "");
// TestEncodeReviewMatchesMarshal holds them to it.
const (
	allowedPrefix = `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"`
	allowedSuffix = `","allowed":true,"status":{"metadata":{},"status":"Success","code":200}}}`
)

// plainAllowance reports whether resp is allowed(uid, "") with nothing added, and its uid needs no
// escaping in JSON.
func plainAllowance(resp *admissionv1.AdmissionResponse) bool {
	if !resp.Allowed || resp.Patch != nil || resp.PatchType != nil || len(resp.Warnings) > 0 || len(resp.AuditAnnotations) > 0 {
		return false
	}
	st := resp.Result
	if st == nil || st.Status != metav1.StatusSuccess || st.Code != http.StatusOK || st.Message != "" || st.Reason != "" ||
		st.Details != nil || st.TypeMeta != (metav1.TypeMeta{}) || st.ListMeta != (metav1.ListMeta{}) {
		return false
	}
	for i := 0; i < len(resp.UID); i++ {
		// encoding/json escapes control characters, quotes, backslashes, <, > and &, and rewrites
		// invalid UTF-8 and U+2028/9: such a uid takes the general path.
		if c := resp.UID[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// review wraps a response in an AdmissionReview of the version the request came in.
func review(resp *admissionv1.AdmissionResponse) *admissionv1.AdmissionReview {
	return &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: resp,
	}
}
