package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sealgate/sealgate/internal/syncbuf"
	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/policy"
	"github.com/sealgate/sealgate/pkg/rules"
)

// panickingPolicies panics when asked for policies: a bug anywhere after the body was decoded.
type panickingPolicies struct{}

func (panickingPolicies) Policies() ([]*policy.Policy, error) { panic("policy source bug") }

// serverRecorder counts what metrics.ServerRecorder receives, on top of the decisions.
type serverRecorder struct {
	mu       sync.Mutex
	panics   int
	rejected []string
	decided  []string
}

func (r *serverRecorder) Violation(string, string, string, string, int) {}
func (r *serverRecorder) Decision(d string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.decided = append(r.decided, d)
}
func (r *serverRecorder) Rejected(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejected = append(r.rejected, reason)
}
func (r *serverRecorder) Panic() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.panics++
}

// A panic while evaluating is recovered: the connection is not reset, the request gets an
// internal-error denial carrying its uid, the panic is counted, and the server keeps serving.
func TestServeRecoversPanic(t *testing.T) {
	rec := &serverRecorder{}
	var logs syncbuf.Buffer
	h := &Handler{Engine: &engine.Engine{Rules: rules.Default()}, Policies: panickingPolicies{}, Metrics: rec,
		Log: logr.FromSlogHandler(slog.NewJSONHandler(&logs, nil))}
	if err := h.Defaults(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	defer srv.Close()

	body := `{` + envelopeHead + `,"request":{` + envelopeReq + `,"object":` + envelopePod + `}}`
	for i := range 2 {
		r, err := srv.Client().Post(srv.URL+"/validate", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("request %d: %v (a panic must not reset the connection)", i, err)
		}
		out, _ := io.ReadAll(r.Body)
		r.Body.Close()
		var rv admissionv1.AdmissionReview
		if err := json.Unmarshal(out, &rv); err != nil || rv.Response == nil {
			t.Fatalf("request %d: HTTP %d %s: not an AdmissionReview (%v)", i, r.StatusCode, out, err)
		}
		if rv.Response.UID != "u1" || rv.Response.Allowed || rv.Response.Result == nil || rv.Response.Result.Code != http.StatusInternalServerError {
			t.Errorf("request %d: response %s; want uid u1, denied with code 500", i, out)
		}
	}
	if rec.panics != 2 {
		t.Errorf("panics counted: %d, want 2", rec.panics)
	}
	if !strings.Contains(logs.String(), `"msg":"recovered a panic while serving an admission request"`) ||
		!strings.Contains(logs.String(), "policy source bug") {
		t.Errorf("log does not report the panic:\n%s", logs.String())
	}

	// Without a readable uid there is no AdmissionReview to answer with: a plain 500.
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/validate", strings.NewReader(`{"no":"uid"}`))
	r.Header.Set("Content-Type", "application/json")
	serve(w, r, logr.Discard(), rec, time.Now, func(_ context.Context, _ []byte) (*admissionv1.AdmissionResponse, string, error) {
		panic("decoder bug")
	})
	if w.Code != http.StatusInternalServerError || rec.panics != 3 {
		t.Errorf("panic without a uid: HTTP %d, panics %d; want 500 and 3", w.Code, rec.panics)
	}
}

// An error that quotes the request (a 6 MB apiVersion) is cut to MaxErrorTextBytes in the log and in
// the 400 body, and says so.
func TestServeCapsErrorText(t *testing.T) {
	var logs syncbuf.Buffer
	rec := &serverRecorder{}
	h := &Handler{Engine: &engine.Engine{Rules: rules.Default()}, Policies: testPolicies(t), Metrics: rec,
		Log: logr.FromSlogHandler(slog.NewJSONHandler(&logs, nil))}
	if err := h.Defaults(); err != nil {
		t.Fatal(err)
	}
	body := `{"apiVersion":"` + strings.Repeat("A", 6<<20) + `","kind":"AdmissionReview","request":{"uid":"u"}}`
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/validate", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest {
		t.Fatalf("HTTP %d, want 400", w.Code)
	}
	const slack = 512 // the JSON log record around the message, and the "(n more bytes cut)" note
	if n := w.Body.Len(); n > MaxErrorTextBytes+slack || !strings.Contains(w.Body.String(), "more bytes cut") {
		t.Errorf("400 body is %d bytes (cap %d), ends %q", n, MaxErrorTextBytes, tail(w.Body.String()))
	}
	if n := len(logs.String()); n == 0 || n > MaxErrorTextBytes+slack || !strings.Contains(logs.String(), "more bytes cut") {
		t.Errorf("log is %d bytes (cap %d), ends %q", n, MaxErrorTextBytes, tail(logs.String()))
	}
}

// A body over MaxReviewBytes, or one cut off, is counted as rejected by reason.
func TestServeCountsUnreadBodies(t *testing.T) {
	rec := &serverRecorder{}
	h := &Handler{Engine: &engine.Engine{Rules: rules.Default()}, Policies: testPolicies(t), Metrics: rec, Log: logr.Discard()}
	if err := h.Defaults(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodPost, "/validate", strings.NewReader("{}")),
		httptest.NewRequest(http.MethodPost, "/validate", strings.NewReader(`{"apiVersion":`)),
	} {
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	large := httptest.NewRequest(http.MethodPost, "/validate", strings.NewReader("{}"))
	large.ContentLength = MaxReviewBytes + 1
	cut := httptest.NewRequest(http.MethodPost, "/validate", io.MultiReader(strings.NewReader("{"), errReader{}))
	cut.ContentLength = 100
	for _, r := range []*http.Request{large, cut} {
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest {
			t.Errorf("HTTP %d, want 400", w.Code)
		}
	}
	if got := strings.Join(rec.rejected, ","); got != "body_too_large,body_read" {
		t.Errorf("rejected reasons %q, want body_too_large,body_read", got)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func tail(s string) string {
	if len(s) > 80 {
		return s[len(s)-80:]
	}
	return s
}

// The policy webhook counts its rejected requests like the workload webhook, and no admission
// decisions: those count workloads.
func TestPolicyValidatorCountsRejections(t *testing.T) {
	rec := &serverRecorder{}
	v := &PolicyValidator{Log: logr.Discard(), Server: rec}
	big := httptest.NewRequest(http.MethodPost, "/validate-policy", strings.NewReader("{}"))
	big.Header.Set("Content-Type", "application/json")
	big.ContentLength = MaxReviewBytes + 1
	w := httptest.NewRecorder()
	v.ServeHTTP(w, big)
	if w.Code != http.StatusBadRequest {
		t.Fatalf("HTTP %d, want 400", w.Code)
	}
	ok := httptest.NewRequest(http.MethodPost, "/validate-policy", strings.NewReader(
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"DELETE",`+
			`"kind":{"group":"sealgate.dev","version":"v1alpha1","kind":"ClusterAdmissionPolicy"}}}`))
	ok.Header.Set("Content-Type", "application/json")
	w = httptest.NewRecorder()
	v.ServeHTTP(w, ok)
	if w.Code != http.StatusOK {
		t.Fatalf("HTTP %d, want 200: %s", w.Code, w.Body)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if strings.Join(rec.rejected, ",") != "body_too_large" || len(rec.decided) != 0 {
		t.Errorf("rejected %v, decided %v; want [body_too_large] and no decisions", rec.rejected, rec.decided)
	}
}

// A response is sent with its Content-Length, not chunked, however long: net/http chunks a response
// over 2 KB written without one, which costs both ends a framing pass and the API server's client a
// read loop instead of one sized read.
func TestServeSendsContentLength(t *testing.T) {
	h, _ := testHandler(t, testPolicies(t), nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	var cs []corev1.Container
	for i := range 12 {
		cs = append(cs, testPrivileged(testContainer(fmt.Sprintf("c%d", i), "elsewhere.example.org/app:latest")))
	}
	for name, spec := range map[string]corev1.PodSpec{"allowed": testGoodSpec, "denied at length": testPodSpec(cs...)} {
		body := testReviewBody(t, testRequest(t, admissionv1.Create, "", testPod(spec), nil))
		resp, err := srv.Client().Post(srv.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: HTTP %d, %v", name, resp.StatusCode, err)
		}
		if name != "allowed" && len(out) <= 2048 {
			t.Fatalf("%s: the response is %d bytes; the test needs one over 2048", name, len(out))
		}
		if resp.ContentLength != int64(len(out)) || len(resp.TransferEncoding) != 0 {
			t.Errorf("%s: Content-Length %d, Transfer-Encoding %v for a %d-byte response", name, resp.ContentLength, resp.TransferEncoding, len(out))
		}
	}
}
