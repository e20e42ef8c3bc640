package admission

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/go-json-experiment/json"
	admissionv1 "k8s.io/api/admission/v1"
)

// MaxReviewBytes bounds an AdmissionReview body. The API server caps an object at 3 MiB and a review
// carries at most the object and the old object, so anything larger is not from an API server.
const MaxReviewBytes = 7 << 20

// errBadRequest marks errors that are the client's fault (HTTP 400).
var errBadRequest = errors.New("bad request")

// readBody reads an AdmissionReview body from an HTTP request, bounded in size.
func readBody(r *http.Request) ([]byte, error) {
	if r.Method != http.MethodPost {
		return nil, fmt.Errorf("%w: method %s, want POST", errBadRequest, r.Method)
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return nil, fmt.Errorf("%w: content type %q, want application/json", errBadRequest, r.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxReviewBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading body: %v", errBadRequest, err)
	}
	if len(body) > MaxReviewBytes {
		return nil, fmt.Errorf("%w: body larger than %d bytes", errBadRequest, MaxReviewBytes)
	}
	return body, nil
}

// DecodeReview decodes an AdmissionReview and checks the fields sealgate relies on.
func DecodeReview(body []byte) (*admissionv1.AdmissionReview, error) {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, fmt.Errorf("%w: decoding AdmissionReview: %v", errBadRequest, err)
	}
	if gv := review.APIVersion; gv != admissionv1.SchemeGroupVersion.String() || review.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("%w: expected admission.k8s.io/v1 AdmissionReview, got %q %q", errBadRequest, gv, review.Kind)
	}
	if review.Request == nil {
		return nil, fmt.Errorf("%w: AdmissionReview has no request", errBadRequest)
	}
	if review.Request.UID == "" {
		return nil, fmt.Errorf("%w: AdmissionReview request has no uid", errBadRequest)
	}
	return &review, nil
}
