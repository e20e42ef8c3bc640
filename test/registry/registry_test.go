package registry

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestCountsEveryRequest: the benchmark reads registry round trips from Requests, so every request
// the wrapped handler sees is counted, and pushed images are there to read.
func TestCountsEveryRequest(t *testing.T) {
	var seen atomic.Int64
	s, err := Start(t.TempDir(), true, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen.Add(1)
			h.ServeHTTP(w, r)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Push("app", "1")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(s.Ref("app", d))
	if err != nil {
		t.Fatal(err)
	}
	before := s.Requests()
	if _, err := remote.Head(ref, remote.WithTransport(s.Transport())); err != nil {
		t.Fatal(err)
	}
	if got := s.Requests() - before; got < 1 {
		t.Errorf("a HEAD of the manifest counted %d requests, want at least 1", got)
	}
	if s.Connections() < 1 || s.Connections() > s.Requests() {
		t.Errorf("Connections() = %d for %d requests", s.Connections(), s.Requests())
	}
	if s.Requests() != seen.Load() {
		t.Errorf("Requests() = %d, the handler saw %d", s.Requests(), seen.Load())
	}
}
