package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	certutil "k8s.io/client-go/util/cert"
)

// startMetrics serves /metrics: over plain HTTP, or, with a filter (authentication and authorization
// through the API server), over HTTPS with a self-signed certificate made at start, since a scraper
// that sends a bearer token must not send it in the clear.
func (s *Server) startMetrics(errc chan<- error) (*http.Server, error) {
	var h http.Handler = promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{ErrorLog: errorLog(s.opts.Log)})
	if s.opts.MetricsFilter == nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", h)
		return s.startPlain(s.opts.MetricsAddr, mux, errc)
	}
	filtered, err := s.opts.MetricsFilter(h)
	if err != nil {
		return nil, fmt.Errorf("metrics authentication: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", filtered)
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("sealgate-metrics", nil, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("metrics certificate: %w", err)
	}
	ln, err := net.Listen("tcp", s.opts.MetricsAddr)
	if err != nil {
		return nil, err
	}
	srv := s.httpServer(mux)
	cfg := s.baseTLS(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil })
	go serveOn(srv, tlsListener(ln, cfg), errc)
	return srv, nil
}
