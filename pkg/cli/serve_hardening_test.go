package cli

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/sealgate/sealgate/internal/testca"
)

// hardenedServe starts `sealgate serve` in file mode with the test policies and extra flags, and
// waits until it is ready.
type hardenedServe struct {
	*serveProcess
	ca                  *testca.CA
	webhook, health, mx string
}

func startHardenedServe(t *testing.T, extra ...string) *hardenedServe {
	t.Helper()
	policyDir, certDir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(policyDir, "policies.yaml"), []byte(servePolicies), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := testca.New(t, "sealgate hardening CA")
	ca.WriteServing(t, certDir)
	h := &hardenedServe{ca: ca, webhook: serveFreeAddr(t), health: serveFreeAddr(t), mx: serveFreeAddr(t)}
	_, port, _ := net.SplitHostPort(h.webhook)
	args := append([]string{"serve", "--policy-file", policyDir, "--port", port, "--cert-dir", certDir, "--host", "127.0.0.1",
		"--health-probe-bind-address", h.health, "--metrics-bind-address", h.mx}, extra...)
	h.serveProcess = startServe(t, args)
	h.waitReady(t, "http://"+h.health+"/readyz")
	return h
}

func (h *hardenedServe) url() string { return "https://" + h.webhook + "/validate" }

func (h *hardenedServe) ready() bool {
	c := &http.Client{Timeout: time.Second}
	r, err := c.Get("http://" + h.health + "/readyz")
	if err != nil {
		return false
	}
	r.Body.Close()
	return r.StatusCode == http.StatusOK
}

// holdBody opens a TLS connection and sends a POST to /validate declaring length bytes of body, of
// which it sends sent. The connection stays open until the test ends.
func (h *hardenedServe) holdBody(t *testing.T, length, sent int) (*tls.Conn, error) {
	t.Helper()
	conn, err := tls.Dial("tcp", h.webhook, &tls.Config{RootCAs: h.ca.Pool()})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	head := fmt.Sprintf("POST /validate HTTP/1.1\r\nHost: sealgate\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", length)
	if _, err := io.WriteString(conn, head); err != nil {
		return conn, err
	}
	chunk := bytes.Repeat([]byte(" "), 64<<10)
	for sent > 0 {
		n := min(sent, len(chunk))
		if _, err := conn.Write(chunk[:n]); err != nil {
			return conn, err
		}
		sent -= n
	}
	return conn, nil
}

func TestServeFlags(t *testing.T) {
	o := &serveOptions{}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	o.AddFlags(fs)
	if o.MetricsAddr != "127.0.0.1:8080" {
		t.Errorf("--metrics-bind-address defaults to %q, want loopback 127.0.0.1:8080", o.MetricsAddr)
	}
	policy := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(policy, []byte(servePolicies), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics-secure"}, "--metrics-secure needs cluster mode"},
		{[]string{"--max-requests-in-flight", "0"}, "--max-requests-in-flight 0"},
		{[]string{"--max-large-requests-in-flight", "65"}, "--max-large-requests-in-flight 65"},
		{[]string{"--read-timeout", "0s"}, "--read-timeout must be positive"},
		{[]string{"--read-header-timeout", "20s"}, "--read-header-timeout 20s: want at most --read-timeout"},
		{[]string{"--shutdown-grace", "0s"}, "--shutdown-grace must be positive"},
		{[]string{"--client-ca-file", policy}, "--client-ca-file"},
		{[]string{"--profiling-bind-address", ":6060"}, "--profiling-bind-address: \":6060\": want a loopback host"},
		{[]string{"--profiling-bind-address", "10.0.0.1:6060"}, "want a loopback host"},
		{[]string{"--profiling-bind-address", "127.0.0.1"}, "--profiling-bind-address"},
	} {
		var stderr bytes.Buffer
		code := Execute(t.Context(), append([]string{"serve", "--policy-file", policy}, c.args...), IO{In: strings.NewReader(""), Out: io.Discard, Err: &stderr})
		if code != ExitUsage || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want exit 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}

// --profiling-bind-address serves Go's CPU profile on loopback.
func TestServeProfiling(t *testing.T) {
	addr := serveFreeAddr(t)
	startHardenedServe(t, "--profiling-bind-address", addr)
	c := &http.Client{Timeout: 30 * time.Second}
	r, err := c.Get("http://" + addr + "/debug/pprof/profile?seconds=1")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil || r.StatusCode != http.StatusOK || len(body) == 0 || r.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("CPU profile: status %d, %d bytes, type %q, %v", r.StatusCode, len(body), r.Header.Get("Content-Type"), err)
	}
}

// --tls-min-version 1.2 offers only ECDHE suites with AES-GCM or ChaCha20-Poly1305, no CBC suite.
func TestServeTLS12RefusesCBCSuites(t *testing.T) {
	s := startHardenedServe(t, "--tls-min-version", "1.2")
	dial := func(suite uint16) error {
		c, err := tls.Dial("tcp", s.webhook, &tls.Config{RootCAs: s.ca.Pool(), MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA} {
		if dial(suite) == nil {
			t.Errorf("%s accepted", tls.CipherSuiteName(suite))
		}
	}
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		if err := dial(suite); err != nil {
			t.Errorf("%s refused: %v", tls.CipherSuiteName(suite), err)
		}
	}
}

// net/http's "http: TLS handshake error" goes through serve's JSON logger like every other line.
func TestServeLogsAreJSON(t *testing.T) {
	s := startHardenedServe(t)
	conn, err := net.Dial("tcp", s.webhook)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("\x00\x01\x02 not a TLS client hello\r\n\r\n"))
	conn.Close()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(s.stderr.String(), "TLS handshake error"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no TLS handshake error in serve's log within 10s:\n%s", s.stderr.String())
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
}

// Past --max-requests-in-flight (64 by default) held requests, the next is answered 429 at once and
// counted; nothing queues.
func TestServeInFlightLimit(t *testing.T) {
	// The holders must outlast the test: with the default 10 s read timeout, on a loaded machine the
	// first ones were cut off (freeing their slots) before the last had reached the handler.
	s := startHardenedServe(t, "--read-timeout", "2m")
	for i := range 64 {
		if _, err := s.holdBody(t, 1000, 1); err != nil {
			t.Fatalf("holder %d: %v", i, err)
		}
	}
	client := serveClient(s.ca.Pool())
	defer client.CloseIdleConnections()
	review := serveReview(t, serveContainer("app", "registry.example.com/team/app:1.2.3"))
	// The holders reach the handler in their own time; once all have, the answer is a 429.
	var code int
	var msg []byte
	for deadline := time.Now().Add(15 * time.Second); code != http.StatusTooManyRequests; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("with 64 requests held, the last answer was HTTP %d %s; want 429", code, msg)
		}
		r, err := client.Post(s.url(), "application/json", bytes.NewReader(review))
		if err != nil {
			t.Fatal(err)
		}
		code = r.StatusCode
		msg, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	if !strings.Contains(string(msg), "already answering 64 admission requests") {
		t.Errorf("429 body %q does not give the reason", msg)
	}
	if got := scrapeServeMetrics(t, "http://"+s.mx+"/metrics")[`sealgate_admission_rejected_total{reason="in_flight"}`]; got < 1 {
		t.Errorf(`sealgate_admission_rejected_total{reason="in_flight"} = %v, want at least 1`, got)
	}
}

// 40 connections each declaring a 7 MiB body and sending all but its last byte: only
// --max-large-requests-in-flight (4) are read, the rest are refused at once, memory stays bounded
// (the webhook's share of the chart's 512 MiB limit is 256 MiB), and a normal admission still answers.
func TestServeHeldLargeBodies(t *testing.T) {
	s := startHardenedServe(t)
	client := serveClient(s.ca.Pool())
	defer client.CloseIdleConnections()
	review := serveReview(t, serveContainer("app", "registry.example.com/team/app:1.2.3"))
	postReview(t, client, s.url(), review) // warm up: the first admission's allocations are not the bodies'

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const n, size = 40, 7 << 20
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = s.holdBody(t, size, size-1) // refused ones fail to write: that is expected
		}()
	}
	wg.Wait()
	// The accepted bodies sit in the server's buffers; measure while they are held.
	var peak uint64
	for range 10 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapAlloc)
		time.Sleep(50 * time.Millisecond)
	}
	if resp := postReview(t, client, s.url(), review); !resp.Allowed {
		t.Errorf("normal admission with %d large bodies held: %+v", n, resp.Result)
	}
	grown := int64(peak) - int64(before.HeapAlloc)
	t.Logf("heap grew by %d MiB with %d held 7 MiB bodies (VmRSS %s)", grown>>20, n, vmRSS())
	// 4 bodies of 7 MiB are 28 MiB; reading all 40 would be 280 MiB or more.
	if grown > 120<<20 {
		t.Errorf("heap grew by %d MiB with %d held 7 MiB bodies, want under 120 MiB", grown>>20, n)
	}
}

// vmRSS is the process's resident set, for the test log.
func vmRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
