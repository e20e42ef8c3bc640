// Package server is the HTTPS server sealgate's webhooks run in, the same in file and cluster mode:
// TLS with a reloaded serving certificate, limits on what one client can hold (requests in flight,
// body read deadline, header size), health and metrics endpoints, and a shutdown that loses no
// admission during a rolling update.
package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/pkg/metrics"
)

// Defaults of the limits, also the defaults of `sealgate serve`'s flags (docs/cli.md lists them).
const (
	// DefaultMaxInFlight bounds admissions being read or evaluated at once. Past it a request gets a
	// 429 at once: queueing would only make the API server's webhook timeout expire instead.
	DefaultMaxInFlight = 64
	// DefaultMaxLargeInFlight bounds, among those, requests whose body is over LargeBodyBytes (or of
	// unknown length). Bodies are held in memory whole, up to admission.MaxReviewBytes (7 MiB) each;
	// 4 of them stay far inside the chart's 256 MiB memory limit.
	DefaultMaxLargeInFlight = 4
	// LargeBodyBytes is the body size past which a request needs a large slot. A pod review is
	// usually under 20 KB; a 1 MiB body is already a very large object.
	LargeBodyBytes = 1 << 20
	// DefaultReadTimeout bounds reading one request, headers and body. The API server's webhook
	// timeout is at most 30 s (10 s by default), so a body still arriving after 10 s is not worth
	// waiting for; a client sending 1 byte a second no longer holds its connection forever.
	DefaultReadTimeout = 10 * time.Second
	// DefaultReadHeaderTimeout bounds reading the request headers.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultWriteTimeout bounds the time from the end of the headers to the end of the response, so a
	// client that stops reading frees its slot. It is above the API server's longest webhook timeout.
	DefaultWriteTimeout = 60 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection may stay idle. It is above the API
	// server's own idle-connection timeout (90 s), so that the client, not the server, closes idle
	// connections: a server-side close can cross a request the client is just sending.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultMaxHeaderBytes bounds the request headers; an API server sends well under 1 KiB.
	DefaultMaxHeaderBytes = 64 << 10
)

// Options configure a Server. Zero limits take the defaults above.
type Options struct {
	// Addr is the webhook's host:port.
	Addr string
	// CertDir holds tls.crt and tls.key, reloaded when they change.
	CertDir string
	// TLSMinVersion is tls.VersionTLS12 or tls.VersionTLS13 (the default).
	TLSMinVersion uint16
	// ClientCAFile, if set, makes client certificates signed by this CA bundle mandatory.
	ClientCAFile string
	// CertsReady, if set, holds the webhook listener back until it is closed: the certificate is not
	// in place before (cluster mode with self-managed certificates).
	CertsReady <-chan struct{}

	MaxInFlight       int
	MaxLargeInFlight  int
	ReadTimeout       time.Duration
	ReadHeaderTimeout time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int

	// ShutdownDelay is how long the server keeps serving once its context ends, with readiness failing
	// and every response closing its connection, so that clients move to other replicas.
	ShutdownDelay time.Duration
	// ShutdownGrace bounds the drain after the delay; requests still running then are cut.
	ShutdownGrace time.Duration

	// HealthAddr serves /healthz and /readyz over plain HTTP; "0" or "" disables them.
	HealthAddr string
	// MetricsAddr serves /metrics; "0" or "" disables it.
	MetricsAddr string
	// ProfilingAddr serves net/http/pprof's /debug/pprof/ over plain HTTP; "0" or "" disables it.
	// The CLI holds it to loopback: a profile shows the process's code paths and its heap.
	ProfilingAddr string
	// Gatherer is what /metrics serves.
	Gatherer prometheus.Gatherer
	// MetricsFilter, if set, serves /metrics over HTTPS (a self-signed certificate made at start)
	// through this filter, which authenticates and authorizes each scrape.
	MetricsFilter func(http.Handler) (http.Handler, error)

	// Log receives the server's own lines, net/http's error log among them.
	Log logr.Logger
	// Metrics counts rejected requests and recovered panics.
	Metrics metrics.ServerRecorder
}

// defaults fills zero limits and checks the rest.
func (o *Options) defaults() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MaxInFlight, DefaultMaxInFlight)
	def(&o.MaxLargeInFlight, DefaultMaxLargeInFlight)
	def(&o.MaxHeaderBytes, DefaultMaxHeaderBytes)
	defDur(&o.ReadTimeout, DefaultReadTimeout)
	defDur(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	defDur(&o.WriteTimeout, DefaultWriteTimeout)
	defDur(&o.IdleTimeout, DefaultIdleTimeout)
	if o.TLSMinVersion == 0 {
		o.TLSMinVersion = tls.VersionTLS13
	}
	if o.Metrics == nil {
		o.Metrics = metrics.Nop{}
	}
	var errs []error
	if o.MaxInFlight < 0 || o.MaxLargeInFlight < 0 || o.MaxLargeInFlight > o.MaxInFlight {
		errs = append(errs, fmt.Errorf("in-flight limits %d (large %d): want 1 <= large <= total", o.MaxInFlight, o.MaxLargeInFlight))
	}
	if o.TLSMinVersion != tls.VersionTLS12 && o.TLSMinVersion != tls.VersionTLS13 {
		errs = append(errs, fmt.Errorf("tls minimum version %#x: want TLS 1.2 or 1.3", o.TLSMinVersion))
	}
	if o.ShutdownDelay < 0 || o.ShutdownGrace < 0 {
		errs = append(errs, errors.New("shutdown delay and grace must not be negative"))
	}
	if o.Gatherer == nil && enabled(o.MetricsAddr) {
		errs = append(errs, errors.New("metrics need a gatherer"))
	}
	return errors.Join(errs...)
}

// enabled reports whether an address flag asks for a listener ("0" and "" do not).
func enabled(addr string) bool { return addr != "" && addr != "0" }
