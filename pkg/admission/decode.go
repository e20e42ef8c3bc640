package admission

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"

	"github.com/go-json-experiment/json"
	admissionv1 "k8s.io/api/admission/v1"
)

// MaxReviewBytes bounds an AdmissionReview body. The API server caps an object at 3 MiB and a review
// carries at most the object and the old object, so anything larger is not from an API server.
const MaxReviewBytes = 7 << 20

// errBadRequest marks errors that are the client's fault (HTTP 400).
var errBadRequest = errors.New("bad request")

// errBodyTooLarge and errBodyRead mark a body that was not read: over MaxReviewBytes, or cut off (the
// client went away, or the server's read deadline passed). Both also wrap errBadRequest.
var (
	errBodyTooLarge = fmt.Errorf("body larger than %d bytes", MaxReviewBytes)
	errBodyRead     = errors.New("reading body")
)

// maxPooledBodyBytes is the largest body buffer kept for the next request: a Pod or Deployment
// review is 5-30 KB, and a rare multi-megabyte one must not stay in memory for good.
const maxPooledBodyBytes = 64 << 10

// bodies holds body buffers between requests, so that a review's body is not a fresh 10 KB
// allocation (zeroed, then collected) each time. Nothing decoded from a body refers into it: the
// decoders copy every string and raw value out of it, so a buffer is reused once its response is written.
var bodies = sync.Pool{New: func() any { return new([]byte) }}

// getBody returns a pooled buffer for readBody; putBody gives it back once nothing reads the body.
func getBody() *[]byte { return bodies.Get().(*[]byte) }

func putBody(b *[]byte) {
	if cap(*b) > maxPooledBodyBytes {
		return
	}
	*b = (*b)[:0]
	bodies.Put(b)
}

// readBody reads an AdmissionReview body from an HTTP request, bounded in size, into buf's array
// when it has room (buf may be nil).
func readBody(r *http.Request, buf []byte) ([]byte, error) {
	if r.Method != http.MethodPost {
		return nil, fmt.Errorf("%w: method %s, want POST", errBadRequest, r.Method)
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return nil, fmt.Errorf("%w: content type %q, want application/json", errBadRequest, r.Header.Get("Content-Type"))
	}
	if r.ContentLength > MaxReviewBytes {
		// Refused before a byte is read: the declared length alone says it is not from an API server.
		return nil, fmt.Errorf("%w: %w (%d declared)", errBadRequest, errBodyTooLarge, r.ContentLength)
	}
	if r.ContentLength >= 0 {
		// The API server always sends a Content-Length: one buffer of that size, rather than
		// io.ReadAll's doublings, which peak near twice the body.
		body := buf[:0]
		if int64(cap(body)) >= r.ContentLength {
			body = body[:r.ContentLength]
		} else {
			body = make([]byte, r.ContentLength)
		}
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, fmt.Errorf("%w: %w: %v", errBadRequest, errBodyRead, err)
		}
		return body, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxReviewBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %v", errBadRequest, errBodyRead, err)
	}
	if len(body) > MaxReviewBytes {
		return nil, fmt.Errorf("%w: %w", errBadRequest, errBodyTooLarge)
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
