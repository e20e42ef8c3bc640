package admission

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/pkg/engine"
	"github.com/sealgate/sealgate/pkg/rules"
)

// envelopeHead and envelopePod make a pod review by hand, so that tests can place members freely.
const (
	envelopeHead = `"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"`
	envelopeReq  = `"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"prod","operation":"CREATE"`
	envelopePod  = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"app","image":"registry.example.com/a:1"}]}}`
	envelopeBad  = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"app","image":"registry.example.com/a:1","securityContext":{"privileged":true}}]}}`
)

// unknownMembers returns n members sealgate does not read, with distinct names.
func unknownMembers(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `"x%d":%d,`, i, i)
	}
	return b.String()
}

// serveBody posts body to a handler with the enforce policy and returns the HTTP status and body.
func serveBody(t *testing.T, body string) (int, string) {
	t.Helper()
	h := &Handler{Engine: &engine.Engine{Rules: rules.Default()}, Policies: testPolicies(t)}
	if err := h.Defaults(); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader([]byte(body)))
	r.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// A repeated member of the envelope is rejected wherever it comes: a privileged pod followed by a
// compliant one must not be read as the compliant one (the last value wins in a lenient decoder).
func TestRepeatedEnvelopeMemberRejected(t *testing.T) {
	for _, n := range []int{0, 5, 15, 16, 17, 40, 1000} {
		for name, body := range map[string]string{
			"object": `{` + envelopeHead + `,"request":{` + envelopeReq + `,` + unknownMembers(n) +
				`"object":` + envelopeBad + `,"object":` + envelopePod + `}}`,
			"request": `{` + unknownMembers(n) + envelopeHead + `,"request":{` + envelopeReq + `,"object":` + envelopeBad +
				`},"request":{` + envelopeReq + `,"object":` + envelopePod + `}}`,
			"uid": `{` + envelopeHead + `,"request":{` + envelopeReq + `,` + unknownMembers(n) + `"uid":"u2","object":` + envelopePod + `}}`,
		} {
			t.Run(fmt.Sprintf("%s after %d members", name, n), func(t *testing.T) {
				code, out := serveBody(t, body)
				if code != http.StatusBadRequest || !strings.Contains(out, fmt.Sprintf("duplicate member %q", name)) {
					t.Errorf("HTTP %d %.300s; want 400 naming the duplicate %q", code, out, name)
				}
			})
		}
	}
}

// 100,000 unique unknown members (about 1.3 MB) are read once each; only the verdict is asserted,
// the map behind the first 16 names keeps it linear.
func TestManyUniqueEnvelopeMembers(t *testing.T) {
	many := unknownMembers(100_000)
	for _, c := range []struct {
		name, body, want string
	}{
		{"in request", `{` + envelopeHead + `,"request":{` + many + envelopeReq + `,"object":` + envelopeBad + `}}`, `"allowed":false`},
		{"in the review", `{` + many + envelopeHead + `,"request":{` + envelopeReq + `,"object":` + envelopePod + `}}`, `"allowed":true`},
		{"repeated last", `{` + envelopeHead + `,"request":{` + many + envelopeReq + `,"object":` + envelopePod + `,"x99999":0}}`, `duplicate member "x99999"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out := serveBody(t, c.body)
			if !strings.Contains(out, c.want) {
				t.Errorf("HTTP %d %.300s; want %s", code, out, c.want)
			}
		})
	}
}
