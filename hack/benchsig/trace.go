package main

import (
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// tracer records the registry requests of one verification, so that the report lists what each
// request is for (and -trace logs them as they come).
type tracer struct {
	log bool
	// latency is waited before each answer, to stand for a registry a round trip away; the first
	// answer on a connection waits two more, for the TCP and TLS handshakes that opened it.
	latency time.Duration
	// conns are the client addresses seen, one per connection.
	conns sync.Map
	on    atomic.Bool
	mu    sync.Mutex
	reqs  []string
}

// hex64 is a digest's hex, shortened in the report.
var hex64 = regexp.MustCompile(`[0-9a-f]{64}`)

func (t *tracer) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t.on.Load() {
			if t.log {
				logf("  registry: %s %s", r.Method, r.URL.Path)
			}
			req := r.Method + " " + shorten(r.URL.Path)
			t.mu.Lock()
			if len(t.reqs) < 32 {
				t.reqs = append(t.reqs, req)
			}
			t.mu.Unlock()
		}
		if t.latency > 0 {
			d := t.latency
			if _, seen := t.conns.LoadOrStore(r.RemoteAddr, true); !seen {
				d += 2 * t.latency
			}
			time.Sleep(d)
		}
		h.ServeHTTP(w, r)
	})
}

// shorten leaves out what differs between images: the repository in /v2/<repository>/<kind>/<ref>
// and the hex of digests.
func shorten(path string) string {
	for _, kind := range []string{"/manifests/", "/blobs/", "/referrers/", "/tags/"} {
		if i := strings.LastIndex(path, kind); i > len("/v2") && strings.HasPrefix(path, "/v2/") {
			path = "/v2/…" + path[i:]
			break
		}
	}
	return hex64.ReplaceAllString(path, "…")
}

func (t *tracer) start() {
	t.mu.Lock()
	t.reqs = nil
	t.mu.Unlock()
	t.on.Store(true)
}

func (t *tracer) stop() []string {
	t.on.Store(false)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reqs
}
