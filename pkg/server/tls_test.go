package server

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/internal/testca"
)

// With TLS 1.2 allowed, only ECDHE suites with AES-GCM or ChaCha20-Poly1305 are offered; the CBC
// suites Go enables by default are refused. HTTP/2 is never negotiated.
func TestTLS12OffersOnlyAEADSuites(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(readAll), func(o *Options) { o.TLSMinVersion = tls.VersionTLS12 })
	dial := func(suite uint16, alpn ...string) (*tls.Conn, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		return tls.DialWithDialer(d, "tcp", ts.opts.Addr, &tls.Config{RootCAs: ts.ca.Pool(),
			MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}, NextProtos: alpn})
	}
	for _, suite := range []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	} {
		if c, err := dial(suite); err == nil {
			c.Close()
			t.Errorf("%s was accepted", tls.CipherSuiteName(suite))
		}
	}
	for _, suite := range []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	} {
		c, err := dial(suite, "h2", "http/1.1")
		if err != nil {
			t.Errorf("%s refused: %v", tls.CipherSuiteName(suite), err)
			continue
		}
		st := c.ConnectionState()
		c.Close()
		if st.CipherSuite != suite || st.NegotiatedProtocol != "http/1.1" {
			t.Errorf("negotiated %s, ALPN %q; want %s and http/1.1", tls.CipherSuiteName(st.CipherSuite), st.NegotiatedProtocol, tls.CipherSuiteName(suite))
		}
	}
}

// The default minimum is TLS 1.3.
func TestTLSDefaultsTo13(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(readAll), nil)
	c, err := tls.Dial("tcp", ts.opts.Addr, &tls.Config{RootCAs: ts.ca.Pool(), MaxVersion: tls.VersionTLS12})
	if err == nil {
		c.Close()
		t.Fatal("a TLS 1.2 client connected; the default minimum is 1.3")
	}
}

// net/http's own error log ("http: TLS handshake error") is written as JSON by the same logger.
func TestHandshakeErrorLogIsJSON(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(readAll), nil)
	conn, err := net.Dial("tcp", ts.opts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("\x00\x01\x02 not a TLS client hello\r\n\r\n"))
	_ = conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(ts.logs.String(), "TLS handshake error") {
		if time.Now().After(deadline) {
			t.Fatalf("no TLS handshake error logged within 10s:\n%s", ts.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, line := range strings.Split(strings.TrimSpace(ts.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		if msg, _ := rec["msg"].(string); strings.Contains(msg, "TLS handshake error") && rec["level"] != "WARN" {
			t.Errorf("handshake error logged at %v, want WARN: %q", rec["level"], line)
		}
	}
}

// With a client CA file, a client must present a certificate that CA signed.
func TestClientCertificateRequired(t *testing.T) {
	clientCA := testca.New(t, "server test CA")
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(caFile, clientCA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, http.HandlerFunc(readAll), func(o *Options) { o.ClientCAFile = caFile })
	post := func(cfg *tls.Config) error {
		cfg.RootCAs = ts.ca.Pool()
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer c.CloseIdleConnections()
		r, err := c.Post(ts.url(), "application/json", strings.NewReader("{}"))
		if err != nil {
			return err
		}
		r.Body.Close()
		return nil
	}
	if err := post(&tls.Config{}); err == nil {
		t.Error("a client without a certificate was served")
	}
	other := testca.New(t, "server test CA")
	if err := post(&tls.Config{Certificates: []tls.Certificate{*other.TLS(t, "sealgate.test", x509.ExtKeyUsageClientAuth)}}); err == nil {
		t.Error("a client with a certificate from another CA was served")
	}
	if err := post(&tls.Config{Certificates: []tls.Certificate{*clientCA.TLS(t, "sealgate.test", x509.ExtKeyUsageClientAuth)}}); err != nil {
		t.Errorf("a client with a certificate from the client CA was refused: %v", err)
	}
}

// The client CA bundle is read again when its file changes; a file that no longer parses keeps the
// previous bundle in force.
func TestClientCAReload(t *testing.T) {
	first, second := testca.New(t, "server test CA"), testca.New(t, "server test CA")
	path := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(path, first.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cas := &clientCAs{path: path}
	if err := cas.load(); err != nil {
		t.Fatal(err)
	}
	verifies := func(ca *testca.CA) bool {
		cert, err := x509.ParseCertificate(ca.TLS(t, "sealgate.test", x509.ExtKeyUsageClientAuth).Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		_, err = cert.Verify(x509.VerifyOptions{Roots: cas.current(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		return err == nil
	}
	if !verifies(first) || verifies(second) {
		t.Fatal("initial bundle: want the first CA only")
	}
	if err := os.WriteFile(path, append(first.PEM, second.PEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	cas.checked = time.Time{} // as if the recheck interval had passed
	if !verifies(second) {
		t.Error("the rewritten bundle was not read")
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	cas.checked = time.Time{}
	if !verifies(second) {
		t.Error("an unreadable bundle replaced the one in force")
	}
}
