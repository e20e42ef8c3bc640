package server

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Checks added by the caller take part in /readyz; /healthz does not depend on them.
func TestReadyChecks(t *testing.T) {
	failing := errors.New("policies not loaded yet")
	s, err := New(Options{Addr: "127.0.0.1:0", HealthAddr: "0", MetricsAddr: "0"})
	if err != nil {
		t.Fatal(err)
	}
	s.AddReadyCheck("policies", CheckFunc(func() error { return failing }))
	s.serving.Store(true)
	h := s.healthHandler()
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/healthz", http.StatusOK, "ok"},
		{"/readyz?verbose", http.StatusInternalServerError, "[-]policies failed"},
	} {
		w := &recorder{header: http.Header{}}
		r, _ := http.NewRequest(http.MethodGet, c.path, nil)
		h.ServeHTTP(w, r)
		if w.code != c.code || !strings.Contains(w.body.String(), c.want) {
			t.Errorf("%s: HTTP %d %q, want %d containing %q", c.path, w.code, w.body.String(), c.code, c.want)
		}
	}
	failing = nil
	w := &recorder{header: http.Header{}}
	r, _ := http.NewRequest(http.MethodGet, "/readyz", nil)
	h.ServeHTTP(w, r)
	if w.code != http.StatusOK {
		t.Errorf("/readyz with every check passing: HTTP %d %s", w.code, w.body.String())
	}
}

type recorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) { r.code = code }

// /metrics is plain HTTP by default; with a filter it is HTTPS and goes through the filter.
func TestMetricsEndpoint(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "sealgate_test_total", Help: "test"}))
	plain := startServer(t, http.HandlerFunc(readAll), func(o *Options) { o.MetricsAddr = freeAddr(t); o.Gatherer = reg })
	r, err := http.Get("http://" + plain.opts.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(body), "sealgate_test_total 0") {
		t.Errorf("plain /metrics: HTTP %d %.200s", r.StatusCode, body)
	}

	filter := func(h http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer allowed" {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		}), nil
	}
	secure := startServer(t, http.HandlerFunc(readAll), func(o *Options) {
		o.MetricsAddr, o.Gatherer, o.MetricsFilter = freeAddr(t), reg, filter
	})
	if r, err := http.Get("http://" + secure.opts.MetricsAddr + "/metrics"); err == nil {
		r.Body.Close()
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("secure /metrics over plain HTTP: HTTP %d, want net/http's 400 for HTTP on an HTTPS port", r.StatusCode)
		}
	}
	// The certificate is self-signed: a scraper either pins it or skips verification.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed test endpoint
	for _, tc := range []struct {
		token string
		code  int
	}{{"", http.StatusUnauthorized}, {"Bearer allowed", http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+secure.opts.MetricsAddr+"/metrics", nil)
		if tc.token != "" {
			req.Header.Set("Authorization", tc.token)
		}
		r, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != tc.code {
			t.Errorf("secure /metrics with %q: HTTP %d, want %d", tc.token, r.StatusCode, tc.code)
		}
	}
}

func TestCgroupMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		name, file, content string
		want                int64
		ok                  bool
	}{
		{"v2 limited", "memory.max", "268435456\n", 268435456, true},
		{"v2 unlimited", "memory.max", "max\n", 0, false},
		{"v1 limited", "memory/memory.limit_in_bytes", "268435456\n", 268435456, true},
		{"v1 unlimited", "memory/memory.limit_in_bytes", "9223372036854771712\n", 0, false},
		{"garbage", "memory.max", "lots\n", 0, false},
		{"none", "", "", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			if c.file != "" {
				p := filepath.Join(root, c.file)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(c.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, ok := cgroupMemoryLimit(root)
			if got != c.want || ok != c.ok {
				t.Errorf("cgroupMemoryLimit = %d, %v; want %d, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

func TestSetMemoryLimitRespectsGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "100MiB")
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	if set, _ := SetMemoryLimit(); set != 0 {
		t.Errorf("SetMemoryLimit with GOMEMLIMIT set changed the limit to %d", set)
	}
	// With a limit in force the collector runs less often: GOGC goes up, the limit bounds the heap.
	if got := debug.SetGCPercent(100); got != limitedGCPercent {
		t.Errorf("GOGC under GOMEMLIMIT = %d, want %d", got, limitedGCPercent)
	}
}

func TestSetMemoryLimitRespectsGOGC(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "100MiB")
	t.Setenv("GOGC", "100")
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	SetMemoryLimit()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set by the operator was changed to %d", got)
	}
}
