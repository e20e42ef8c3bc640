package admission

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestEncodeReviewMatchesMarshal holds encodeReview, with its fixed bytes for a plain allowance, to
// json.Marshal of the same review, for uids plain and in need of escaping and for every response shape.
func TestEncodeReviewMatchesMarshal(t *testing.T) {
	uids := []types.UID{"8f6a2c1e-4b7d-4e2a-9c3b-5d6e7f8a9b0c", "x", `a"b`, `a\b`, "a<b>&", "a\u2028b", "é", "a\x01b", "\xff"}
	var cases []*admissionv1.AdmissionResponse
	for _, uid := range uids {
		withWarning := allowed(uid, "")
		withWarning.Warnings = []string{"sealgate: w"}
		withAudit := allowed(uid, "")
		withAudit.AuditAnnotations = map[string]string{AuditAnnotationKey: "[]"}
		cases = append(cases, allowed(uid, ""), allowed(uid, "pod spec unchanged"), withWarning, withAudit,
			internalError(uid, errors.New("e")), badObject(uid, errors.New("b")))
	}
	fast := 0
	for _, resp := range cases {
		want, err := json.Marshal(review(resp))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := encodeReview(&b, resp); err != nil {
			t.Fatal(err)
		}
		if got := bytes.TrimSuffix(b.Bytes(), []byte("\n")); !bytes.Equal(got, want) {
			t.Errorf("encodeReview(%+v)\n got %s\nwant %s", resp, got, want)
		}
		if plainAllowance(resp) {
			fast++
		}
	}
	if fast != 2 { // the two plain uids; every other one needs escaping
		t.Errorf("%d responses took the fixed bytes, want 2", fast)
	}
}
