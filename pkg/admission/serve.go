package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sealgate/sealgate/pkg/metrics"
)

// MaxErrorTextBytes bounds the error text of one malformed request, in the log and in the 400 body:
// an error may quote the request (a 6 MB apiVersion), and neither needs more than its start.
const MaxErrorTextBytes = 1024

// maxStackBytes bounds the stack logged with a recovered panic.
const maxStackBytes = 8 << 10

// serve is the HTTP side shared by sealgate's webhooks: read, decide, write. A panic in decide is
// recovered here, so that the request still gets an answer and the panic is counted.
func serve(w http.ResponseWriter, r *http.Request, log logr.Logger, rec metrics.Recorder, now func() time.Time,
	decide func(context.Context, []byte) (*admissionv1.AdmissionResponse, string, error)) {
	start := now()
	var body []byte
	buf := getBody()
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler { //nolint:errorlint // net/http compares it the same way
				panic(p)
			}
			recovered(w, log, rec, body, p)
		}
		putBody(buf)
	}()
	body, err := readBody(r, *buf)
	if cap(body) <= maxPooledBodyBytes {
		*buf = body // given back, for the next request, once the response is written
	}
	var (
		resp     *admissionv1.AdmissionResponse
		decision string
	)
	if err == nil {
		resp, decision, err = decide(r.Context(), body)
	} else if sr, ok := rec.(metrics.ServerRecorder); ok {
		switch {
		case errors.Is(err, errBodyTooLarge):
			sr.Rejected("body_too_large")
		case errors.Is(err, errBodyRead):
			sr.Rejected("body_read")
		}
	}
	if err != nil {
		msg := capText(err.Error(), MaxErrorTextBytes)
		log.Info("rejected malformed admission request", "error", msg)
		rec.Decision("error", now().Sub(start))
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	rec.Decision(decision, now().Sub(start))
	out := getOut()
	defer putOut(out)
	if err := encodeReview(out, resp); err != nil {
		http.Error(w, "encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// Declared, so that net/http does not chunk a response over its 2 KB buffer (a long denial).
	h.Set("Content-Length", strconv.Itoa(out.Len()))
	_, _ = w.Write(out.Bytes()) // copied into the connection's buffer before Write returns
}

// outs holds response buffers between requests; as bodies, only those of ordinary size are kept.
var outs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getOut() *bytes.Buffer { return outs.Get().(*bytes.Buffer) }

func putOut(b *bytes.Buffer) {
	if b.Cap() > maxPooledBodyBytes {
		return
	}
	b.Reset()
	outs.Put(b)
}

// recovered answers a request whose evaluation panicked. Nothing was written yet (serve writes only
// after decide returns), so the answer is whole: an internal-error denial for the request's uid, as
// for any request sealgate could not evaluate, or a plain 500 when the body has no readable uid.
func recovered(w http.ResponseWriter, log logr.Logger, rec metrics.Recorder, body []byte, p any) {
	if sr, ok := rec.(metrics.ServerRecorder); ok {
		sr.Panic()
	}
	stack := debug.Stack()
	if len(stack) > maxStackBytes {
		stack = stack[:maxStackBytes]
	}
	uid := peekUID(body)
	log.Error(fmt.Errorf("panic: %s", capText(fmt.Sprint(p), MaxErrorTextBytes)), "recovered a panic while serving an admission request",
		"uid", uid, "stack", string(stack))
	if uid == "" {
		http.Error(w, "sealgate failed while evaluating the request", http.StatusInternalServerError)
		return
	}
	out, err := json.Marshal(review(internalError(uid, errors.New("sealgate failed while evaluating it (a recovered panic; see sealgate's log)"))))
	if err != nil {
		http.Error(w, "sealgate failed while evaluating the request", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// peekUID returns request.uid of an AdmissionReview body, or "" if it cannot be read. It runs only
// after a panic, so it trusts nothing: it recovers from a panic of its own.
func peekUID(body []byte) (uid types.UID) {
	if len(body) == 0 {
		return ""
	}
	defer func() {
		if recover() != nil {
			uid = ""
		}
	}()
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	_ = members(dec, func(name string) error {
		if name != "request" || dec.PeekKind() != '{' {
			return dec.SkipValue()
		}
		return members(dec, func(name string) error {
			if name == "uid" && dec.PeekKind() == '"' {
				return jsonv2.UnmarshalDecode(dec, &uid)
			}
			return dec.SkipValue()
		})
	})
	return uid
}

// capText returns s cut to at most max bytes (on a UTF-8 boundary), saying how much was cut.
func capText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d more bytes cut)", s[:cut], len(s)-cut)
}
