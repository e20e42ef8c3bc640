package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// aeadSuites are the TLS 1.2 cipher suites offered: forward secrecy (ECDHE) and authenticated
// encryption (AES-GCM, ChaCha20-Poly1305) only, none of the CBC suites Go enables by default. TLS 1.3
// suites are all of that kind and not configurable.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// baseTLS is the configuration every listener of the server shares.
func (s *Server) baseTLS(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     s.opts.TLSMinVersion,
		CipherSuites:   aeadSuites,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: getCert,
	}
}

// webhookTLS is baseTLS, plus mandatory client certificates when a client CA file is set.
func (s *Server) webhookTLS(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) (*tls.Config, error) {
	cfg := s.baseTLS(getCert)
	if s.opts.ClientCAFile == "" {
		return cfg, nil
	}
	cas := &clientCAs{path: s.opts.ClientCAFile, log: s.opts.Log}
	if err := cas.load(); err != nil {
		return nil, err
	}
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = cas.pool
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := cfg.Clone()
		c.GetConfigForClient = nil
		c.ClientCAs = cas.current()
		return c, nil
	}
	return cfg, nil
}

func tlsListener(ln net.Listener, cfg *tls.Config) net.Listener { return tls.NewListener(ln, cfg) }

// clientCAs is the client CA bundle, read again when the file changes (checked at most every
// clientCARecheck, on a handshake), so that rotating the API server's client CA needs no restart.
type clientCAs struct {
	path string
	log  logr.Logger

	mu      sync.Mutex
	pool    *x509.CertPool
	modTime time.Time
	size    int64
	checked time.Time
}

const clientCARecheck = 10 * time.Second

// LoadClientCAs reads a PEM bundle of CA certificates; `sealgate serve` checks --client-ca-file with it.
func LoadClientCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("client CA file " + path + " holds no PEM certificate")
	}
	return pool, nil
}

func (c *clientCAs) load() error {
	fi, err := os.Stat(c.path)
	if err != nil {
		return fmt.Errorf("reading client CA file: %w", err)
	}
	pool, err := LoadClientCAs(c.path)
	if err != nil {
		return err
	}
	c.pool, c.modTime, c.size, c.checked = pool, fi.ModTime(), fi.Size(), time.Now()
	return nil
}

// current returns the bundle, read again if the file changed; a file that no longer parses keeps the
// previous bundle in force (and is logged), rather than refusing every client.
func (c *clientCAs) current() *x509.CertPool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) < clientCARecheck {
		return c.pool
	}
	c.checked = time.Now()
	fi, err := os.Stat(c.path)
	if err != nil || (fi.ModTime().Equal(c.modTime) && fi.Size() == c.size) {
		return c.pool
	}
	old := c.pool
	if err := c.load(); err != nil {
		c.log.Error(err, "client CA file changed but cannot be read; the previous bundle stays in force")
		c.pool = old
		return old
	}
	c.log.Info("client CA bundle reloaded", "file", c.path)
	return c.pool
}
