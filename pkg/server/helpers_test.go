package server

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/internal/syncbuf"
	"github.com/sealgate/sealgate/internal/testca"
)

// freeAddr returns a free loopback address (released before the server binds it).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// countingRecorder is a metrics.ServerRecorder that counts.
type countingRecorder struct {
	mu       sync.Mutex
	rejected map[string]int
	panics   int
}

func (r *countingRecorder) Rejected(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rejected == nil {
		r.rejected = map[string]int{}
	}
	r.rejected[reason]++
}

func (r *countingRecorder) Panic() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.panics++
}

func (r *countingRecorder) get(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected[reason]
}

// testServer is a Server running in the test, with the options it was started with.
type testServer struct {
	*Server
	opts   Options
	ca     *testca.CA
	logs   *syncbuf.Buffer
	rec    *countingRecorder
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// startServer runs a Server on loopback with h at /validate. edit adjusts the options first.
func startServer(t *testing.T, h http.Handler, edit func(*Options)) *testServer {
	t.Helper()
	ca, dir := testca.New(t, "server test CA"), t.TempDir()
	ca.WriteServing(t, dir)
	ts := &testServer{ca: ca, logs: &syncbuf.Buffer{}, rec: &countingRecorder{}, done: make(chan struct{})}
	ts.opts = Options{Addr: freeAddr(t), CertDir: dir, HealthAddr: freeAddr(t), MetricsAddr: "0",
		ShutdownGrace: 5 * time.Second, Log: logr.FromSlogHandler(slog.NewJSONHandler(ts.logs, nil)), Metrics: ts.rec,
		Gatherer: prometheus.NewRegistry()}
	if edit != nil {
		edit(&ts.opts)
	}
	s, err := New(ts.opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("/validate", h)
	ts.Server = s
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() {
		defer close(ts.done)
		ts.err = s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ts.done:
		case <-time.After(30 * time.Second):
			t.Errorf("server did not stop within 30s of cancel")
		}
	})
	if ts.opts.CertsReady == nil {
		ts.waitReady(t)
	}
	return ts
}

// waitReady waits until /readyz answers 200.
func (ts *testServer) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if code := ts.readyz(); code == http.StatusOK {
			return
		}
		select {
		case <-ts.done:
			t.Fatalf("server stopped before it was ready: %v\n%s", ts.err, ts.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready within 15s:\n%s", ts.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (ts *testServer) readyz() int {
	c := &http.Client{Timeout: 2 * time.Second}
	r, err := c.Get("http://" + ts.opts.HealthAddr + "/readyz")
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return r.StatusCode
}

// stop cancels the server's context and returns Run's error.
func (ts *testServer) stop(t *testing.T) error {
	t.Helper()
	ts.cancel()
	select {
	case <-ts.done:
		return ts.err
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop within 30s of cancel")
		return nil
	}
}

func (ts *testServer) url() string { return "https://" + ts.opts.Addr + "/validate" }

// client returns an HTTPS client that trusts the server's CA.
func (ts *testServer) client(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ts.ca.Pool()}, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
}

// readAll is a handler that reads the whole body and answers with its length.
func readAll(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = io.WriteString(w, "read "+itoa(len(b)))
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }
