package server

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

// After the context ends the server keeps serving through the delay with readiness failing; a
// keep-alive connection is not closed under the client while idle, but right after its next answer
// (Connection: close); new connections are still served until the delay ends.
func TestShutdownDelayClosesConnectionsAfterTheirNextAnswer(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(readAll), func(o *Options) { o.ShutdownDelay = 3 * time.Second })
	c := ts.client(1)
	defer c.CloseIdleConnections()
	do := func() (reused, closed bool) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, ts.url(), strings.NewReader("{}"))
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
		r, err := c.Do(req)
		if err != nil {
			t.Fatalf("request failed: %v", err)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d", r.StatusCode)
		}
		return reused, r.Close
	}
	if _, closed := do(); closed {
		t.Fatal("a response before shutdown closed its connection")
	}
	ts.cancel()
	for ts.readyz() == http.StatusOK {
		time.Sleep(10 * time.Millisecond)
	}
	if reused, closed := do(); !reused || !closed {
		t.Errorf("first request during the delay: reused=%v closed=%v, want the idle connection reused, then closed", reused, closed)
	}
	if reused, closed := do(); reused || !closed {
		t.Errorf("second request during the delay: reused=%v closed=%v, want a new connection, closed after it", reused, closed)
	}
	if err := ts.stop(t); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// Requests still running after the delay are waited for, up to the grace.
func TestShutdownDrainsInFlight(t *testing.T) {
	in := make(chan struct{}, 4)
	ts := startServer(t, entered(in), func(o *Options) { o.ShutdownGrace = 20 * time.Second })
	h := hold(t, ts, 100)
	<-in
	ts.cancel()
	for ts.readyz() == http.StatusOK {
		time.Sleep(10 * time.Millisecond)
	}
	if code := h.finish(t); code != http.StatusOK {
		t.Errorf("in-flight request: HTTP %d, want 200", code)
	}
	if err := ts.stop(t); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// A request that outlives the grace is cut, and Run says so, instead of waiting for it.
func TestShutdownGraceCutsStragglers(t *testing.T) {
	in := make(chan struct{}, 4)
	ts := startServer(t, entered(in), func(o *Options) {
		o.ShutdownGrace, o.ReadTimeout, o.ReadHeaderTimeout = 200*time.Millisecond, time.Hour, time.Hour
	})
	hold(t, ts, 100)
	<-in
	err := ts.stop(t)
	if err == nil || !strings.Contains(err.Error(), "shutdown grace") {
		t.Errorf("Run: %v, want an error naming the shutdown grace", err)
	}
}

// The webhook listener waits for CertsReady; readiness says why until then.
func TestCertsReadyHoldsTheWebhookBack(t *testing.T) {
	certs := make(chan struct{})
	ts := startServer(t, http.HandlerFunc(readAll), func(o *Options) { o.CertsReady = certs })
	for deadline := time.Now().Add(10 * time.Second); ts.readyz() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("health endpoint not up within 10s")
		}
	}
	r, err := http.Get("http://" + ts.opts.HealthAddr + "/readyz?verbose")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode == http.StatusOK || !strings.Contains(string(body), "[-]webhook failed") {
		t.Errorf("readyz before the certificate: HTTP %d %s", r.StatusCode, body)
	}
	if c, err := tls.Dial("tcp", ts.opts.Addr, &tls.Config{RootCAs: ts.ca.Pool()}); err == nil {
		c.Close()
		t.Error("the webhook accepted a connection before the certificate was in place")
	}
	close(certs)
	ts.waitReady(t)
	c := ts.client(1)
	defer c.CloseIdleConnections()
	if code, msg := post(t, c, ts.url(), strings.NewReader("{}")); code != http.StatusOK {
		t.Errorf("after the certificate: HTTP %d %q", code, msg)
	}
}
